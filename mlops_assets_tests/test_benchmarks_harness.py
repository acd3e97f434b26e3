"""The benchmark harness's plumbing (`python -m benchmarks.run --quick`) on tiny sizes, so that it
cannot silently rot: results are produced, well-formed and rendered. No time is asserted."""

import json

import pytest

from benchmarks import run as harness
from benchmarks.common import update_doc_section

OWN = ["versioning", "overhead", "load_time", "memory"]


def _timing_ok(t: dict) -> None:
    assert t["repeats"] >= 1 and len(t["times_s"]) == t["repeats"]
    assert 0 <= t["min_s"] <= t["median_s"] <= t["max_s"]


def test_quick_harness_writes_results_and_doc_sections(tmp_path, lakefs_server):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nHand-written text that must survive.\n")
    out = harness.main([*OWN, "--quick", "--repeats", "1", "--out-dir", str(tmp_path),
                        "--docs", str(doc)], lakefs_server=lakefs_server)
    assert set(out) == set(OWN)
    for name in OWN:
        saved = json.loads((tmp_path / f"{name}_quick.json").read_text())
        assert saved["benchmark"] == f"{name}_quick"
        assert saved["machine"]["logical_cores"] >= 1 and saved["machine"]["versions"]["polars"]
        assert saved["results"]["markdown"].count("|") > 10
        assert saved["results"]["command"].startswith("python -m benchmarks.run")

    versioning = json.loads((tmp_path / "versioning_quick.json").read_text())["results"]
    assert len(versioning["sizes"]) == 2
    for size in versioning["sizes"]:
        for step in ("branch", "change", "commit", "merge", "bcm", "total"):
            _timing_ok(size["lakefs"][step])
        _timing_ok(size["naive"]["copy"])
        assert size["changed_objects"] >= 1 and size["objects"] >= 100
        assert size["naive_bytes_written_median"] >= size["size_bytes"]
        assert size["lakefs_requests"]["commit"]["requests"] >= 1
    assert set(versioning["targets"]) == {"bcm_largest_within_1_5x_of_smallest",
                                          "copy_at_largest_50x_slower"}

    overhead = json.loads((tmp_path / "overhead_quick.json").read_text())["results"]
    _timing_ok(overhead["timings"]["plain"])
    _timing_ok(overhead["timings"]["platform"])
    assert overhead["identical_weights"] is True  # both sides did the same training
    assert isinstance(overhead["overhead"], float)

    load = json.loads((tmp_path / "load_time_quick.json").read_text())["results"]
    assert "dagster definitions validate" in load["timings"]
    for t in load["timings"].values():
        _timing_ok(t)
    assert load["import_profile"] and load["import_profile"][0]["cumulative_s"] > 0

    memory = json.loads((tmp_path / "memory_quick.json").read_text())["results"]
    for variant in ("floor", "scan_collect", "scan_sink", "read_collect_in_memory"):
        assert memory["features"][variant]["child_peak_rss_bytes"] > 0
    assert memory["drift"]["drift_native"]["child_peak_rss_bytes"] > 0
    assert isinstance(memory["sink_streams"], bool)

    text = doc.read_text()
    assert "Hand-written text that must survive." in text
    for name in OWN:
        assert text.count(f"<!-- bench:{name}:start -->") == 1
        assert f"<!-- bench:{name}:end -->" in text


def test_doc_section_is_replaced_in_place(tmp_path):
    doc = tmp_path / "b.md"
    doc.write_text("# B\n\nintro\n\n## Other\n\nkept\n")
    update_doc_section(doc, "x", "first")
    update_doc_section(doc, "x", "second")
    text = doc.read_text()
    assert "second" in text and "first" not in text
    assert text.startswith("# B\n\nintro\n\n## Other\n\nkept\n")
    assert text.count("<!-- bench:x:start -->") == 1


def test_unknown_names_are_refused(tmp_path):
    # (`loop` is exercised by test_daemon_loop.py, whose daemon set-up it shares.)
    with pytest.raises(SystemExit):
        harness.main(["nope", "--quick", "--out-dir", str(tmp_path), "--no-docs"])


def test_quick_serving_entry(tmp_path, lakefs_server):
    """The serving entry end to end on a fresh repository of the session's lakeFS: floors, the
    in-process path, HTTP from a separate client process, memory and the targets' ratios."""
    out = harness.main(["serving", "--quick", "--out-dir", str(tmp_path), "--no-docs"],
                       lakefs_server=lakefs_server)
    saved = json.loads((tmp_path / "serving_quick.json").read_text())
    assert saved["benchmark"] == "serving_quick" and out["serving"]["results_file"]
    results = saved["results"]
    for size in ("single", "batch100"):
        for floor in ("model_forward", "module_forward", "batch_predict", "polars_path",
                      "in_process"):
            t = results["floor"][size][floor]
            assert 0 < t["p50_ms"] <= t["p99_ms"] and t["rows_per_s"] > 0
    for level in results["http"].values():
        for r in level.values():
            assert r["failures"] == 0 and r["n"] > 0 and r["p50_ms"] <= r["p99_ms"]
    assert results["weights_bytes"] > 0
    assert isinstance(results["targets"]["single_p99_target_met"], bool)
    assert isinstance(results["targets"]["batch100_target_met"], bool)
