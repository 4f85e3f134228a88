{{- define "gpuslice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gpuslice.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "gpuslice.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "gpuslice.labels" -}}
app.kubernetes.io/name: {{ include "gpuslice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gpuslice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gpuslice.name" . }}
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

{{/* The resource names the plugin advertises, with every per-node config, as a JSON (and CEL)
list. */}}
{{- define "gpuslice.resourceNames" -}}
{{- $configs := list .Values.config -}}
{{- range $name, $config := .Values.nodeConfigs -}}
{{- $configs = append $configs (include "gpuslice.nodeConfig" (list $ $config) | fromYaml) -}}
{{- end -}}
{{- $names := list -}}
{{- range $configs -}}
{{- $default := .defaultProfile | default dict -}}
{{- $names = append $names ($default.resourceName | default "nvidia.com/gpu") -}}
{{- range .profiles -}}
{{- $names = append $names (.resourceName | default "nvidia.com/gpu") -}}
{{- end -}}
{{- end -}}
{{- $names | uniq | toJson -}}
{{- end -}}

{{/* Per-node config NAME: config with nodeConfigs.NAME's keys on top (lists replaced whole). */}}
{{- define "gpuslice.nodeConfig" -}}
{{- $root := index . 0 -}}
{{- mergeOverwrite (deepCopy $root.Values.config) (deepCopy (index . 1)) | toYaml -}}
{{- end -}}
