{{/* Name of the release's objects: the release name, with the chart name appended unless it contains it. */}}
{{- define "loggerhead.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "loggerhead.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/part-of: loggerhead
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels that select the agent pods. */}}
{{- define "loggerhead.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of a bundled component (victoria-metrics, grafana). */}}
{{- define "loggerhead.componentLabels" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: loggerhead
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* The agent's pipeline.yaml. */}}
{{- define "loggerhead.pipeline" -}}
{{- $prometheus := dict "endpoint" (printf "0.0.0.0:%d" (int .Values.pipeline.metricsPort)) -}}
{{- if .Values.pipeline.carettaCompatible -}}
{{- $_ := set $prometheus "caretta_compatible" true -}}
{{- end -}}
{{- $exporters := dict "prometheus" $prometheus -}}
{{- $names := list "prometheus" -}}
{{- if .Values.otlp.enabled -}}
{{- $_ := set $exporters "otlp" (dict "endpoint" .Values.otlp.endpoint "protocol" .Values.otlp.protocol) -}}
{{- $names = append $names "otlp" -}}
{{- end -}}
{{- $pipeline := dict
  "receivers" (dict "ebpf_socket" (dict "poll_interval" .Values.pipeline.pollInterval))
  "processors" (dict "k8s_attributes" (dict "mode" "kubernetes"))
  "exporters" $exporters
  "service" (dict "pipelines" (dict "links" (dict "receivers" (list "ebpf_socket") "processors" (list "k8s_attributes") "exporters" $names)))
-}}
{{- toYaml (mergeOverwrite $pipeline (deepCopy .Values.pipeline.extraConfig)) -}}
{{- end -}}
