{{- define "gpuslice.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gpuslice.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gpuslice.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gpuslice.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* "true" when this release runs the DRA driver; fails on a mode it does not know. */}}
{{- define "gpuslice.draMode" -}}
{{- if not (has .Values.mode (list "devicePlugin" "dra")) -}}
{{- fail (printf "mode: %q is not one of devicePlugin, dra" (toString .Values.mode)) -}}
{{- end -}}
{{- eq .Values.mode "dra" -}}
{{- end -}}

{{/* A directory of config.dra: (list $draConfig "key" "default"). */}}
{{- define "gpuslice.draDir" -}}
{{- $dra := index . 0 -}}
{{- index $dra (index . 1) | default (index . 2) -}}
{{- end -}}

{{/* The resource names the plugin advertises, as a JSON (and CEL) list. */}}
{{- define "gpuslice.resourceNames" -}}
{{- $names := list (.Values.config.defaultProfile.resourceName | default "nvidia.com/gpu") -}}
{{- range .Values.config.profiles -}}
{{- $names = append $names (.resourceName | default "nvidia.com/gpu") -}}
{{- end -}}
{{- $names | uniq | toJson -}}
{{- end -}}
