{{- define "mlops-assets.labels" -}}
app.kubernetes.io/part-of: mlops-assets
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "mlops-assets.lakefsUrl" -}}
http://{{ .Release.Name }}-lakefs:8000
{{- end }}
