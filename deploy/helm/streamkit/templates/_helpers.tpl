{{/*
The job's name: the Deployment, its pods' instance label and the -job flag.
*/}}
{{- define "streamkit.job" -}}
{{- required "job is required: the job name (-job), e.g. wdqs-updater-eqiad" .Values.job -}}
{{- end -}}

{{/*
The program the pod runs; the chart knows two.
*/}}
{{- define "streamkit.program" -}}
{{- $p := required "program is required: wdqs-updater or wdqs-consumer" .Values.program -}}
{{- if not (has $p (list "wdqs-updater" "wdqs-consumer")) -}}
{{- fail (printf "program %q is neither wdqs-updater nor wdqs-consumer" $p) -}}
{{- end -}}
{{- $p -}}
{{- end -}}

{{/*
Labels that select the job's pods: stable across upgrades.
*/}}
{{- define "streamkit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "streamkit.program" . }}
app.kubernetes.io/instance: {{ include "streamkit.job" . }}
{{- end -}}

{{/*
Every label of the job's objects.
*/}}
{{- define "streamkit.labels" -}}
{{ include "streamkit.selectorLabels" . }}
app.kubernetes.io/part-of: streamkit-wdqs
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.datacenter }}
streamkit.wikimedia.org/datacenter: {{ . }}
{{- end }}
{{- end -}}
