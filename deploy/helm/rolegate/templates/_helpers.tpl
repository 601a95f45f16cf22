{{- define "rolegate.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rolegate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rolegate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rolegate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rolegate.labels" -}}
{{ include "rolegate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Secret holding the admin token, the key encryption key and the URLs. */}}
{{- define "rolegate.secretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else -}}
{{- include "rolegate.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* Refuses values that would start instances that cannot work together. */}}
{{- define "rolegate.validate" -}}
{{- if not .Values.existingSecret -}}
{{- if not .Values.databaseUrl -}}
{{- fail "databaseUrl is required (postgres://... or mysql://...): every instance must share one database" -}}
{{- end -}}
{{- if lt (len .Values.adminToken) 32 -}}
{{- fail "adminToken is required, at least 32 characters (openssl rand -hex 32), or name existingSecret" -}}
{{- end -}}
{{- if not .Values.keyEncryptionKey -}}
{{- fail "keyEncryptionKey is required (openssl rand -base64 32), the same for every instance, or name existingSecret" -}}
{{- end -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.redisUrl) (not .Values.existingSecretHasRedisUrl) -}}
{{- fail "redisUrl is required with more than one replica: it keeps the instances' policies in step" -}}
{{- end -}}
{{- end -}}
