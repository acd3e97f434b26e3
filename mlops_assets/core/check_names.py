"""Names shared between the assets that write checks and the code that reads them (sensors,
retrain policy, demo): the check names and the metadata keys of the drift checks. One place, so
a rename is one edit and a reader of a check's metadata cannot misspell what the writer wrote.
"""

# Checks, by the asset that carries them.
BATCH_RULE_PREFIX = "batch_"  # raw_batch: one blocking check per validation rule, batch_<rule>
NO_LEAKAGE = "no_leakage"  # features
NO_UNEXPECTED_NULLS = "no_unexpected_nulls"  # features
QUALITY_BAR = "meets_quality_bar"  # evaluation
GROUP_GAP = "group_gap_within_bound"  # model_card
PREDICTIONS_COMPLETE = "predictions_complete"  # predictions
DATA_DRIFT = "no_data_drift"  # drift_report (core.retrain_policy resets its streak on it)
PREDICTION_DRIFT = "no_prediction_drift"  # drift_report
PERFORMANCE = "performance_within_bounds"  # drift_report
MISSINGNESS = "no_missingness_jump"  # drift_report: data quality, never a retrain trigger
DRIFT_CHECKS = (DATA_DRIFT, PREDICTION_DRIFT, PERFORMANCE, MISSINGNESS)
RETRAIN_TRIGGER_CHECKS = (DATA_DRIFT, PERFORMANCE)  # what the drift_retrain_sensor reads

# Metadata keys of the drift checks (written by drift_report, read by drift_retrain_sensor).
META_BATCHES = "batches"  # every batch the evaluation covered
# batch -> {"drifted": bool | None, "in_sample": bool, "batch_score", "model_version"}: what the
# retrain sensor folds into per-batch verdicts (None: not assessable)
META_VERDICTS = "verdicts"
META_DRIFTED_BATCHES = "drifted_batches"  # no_data_drift: batches that drifted
META_DRIFTED_FEATURES = "drifted_features"  # no_data_drift: batch -> feature -> effect size
META_SHARE_DRIFTED = "share_drifted"  # no_data_drift: batch -> share of drifted features
META_OUT_OF_BOUNDS = "out_of_bounds"  # performance_within_bounds: batch -> its evaluation
META_EFFECT_SIZES = "effect_sizes"  # no_prediction_drift: batch -> effect size
