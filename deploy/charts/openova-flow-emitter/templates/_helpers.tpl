{{/*
Names, labels, the image reference, the fail-fast checks, and THE ONE PLACE where this chart
maps values to the adapter's environment variables ("openova-flow-emitter.settings" and
"openova-flow-emitter.env"). deploy/tests/test_drift.py compares these names with the binary.
*/}}

{{- define "openova-flow-emitter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "openova-flow-emitter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "openova-flow-emitter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "openova-flow-emitter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "openova-flow-emitter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "openova-flow-emitter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: openova-flow
{{- end }}

{{- define "openova-flow-emitter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "openova-flow-emitter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "openova-flow-emitter.leaseName" -}}
{{- default (include "openova-flow-emitter.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* <registry>/<repository>:<tag>; the tag has no default. */}}
{{- define "openova-flow-emitter.image" -}}
{{- $tag := required "image.tag is required (no default): set the openova-flow-adapter-flux image tag to deploy" .Values.image.tag }}
{{- printf "%s/%s:%s" (trimSuffix "/" .Values.image.registry) .Values.image.repository (toString $tag) }}
{{- end }}

{{/*
Optional adapter settings: environment variable -> key under `.Values.config`. A key left null
is not rendered (the binary's default applies); "" is rendered as "".
*/}}
{{- define "openova-flow-emitter.settings" -}}
NAMESPACE_FILTER: namespaceFilter
WATCH_KINDS: watchKinds
EMIT_INTERVAL: emitInterval
POST_TIMEOUT: postTimeout
LEASE_DURATION: leaseDuration
SHUTDOWN_GRACE: shutdownGrace
RESYNC_INTERVAL: resyncInterval
RETRY_MAX_DELAY: retryMaxDelay
UNREADY_AFTER: unreadyAfter
{{- end }}

{{- define "openova-flow-emitter.env" -}}
- name: FLOW_SERVER_URL
  value: {{ .Values.flowServerUrl | quote }}
- name: FLOW_ID
  value: {{ .Values.flowId | toString | quote }}
- name: REGION_KEY
  value: {{ .Values.regionKey | toString | quote }}
- name: HEALTH_LISTEN_ADDR
  value: {{ printf "0.0.0.0:%d" (int .Values.containerPort) | quote }}
{{- range $name, $key := include "openova-flow-emitter.settings" . | fromYaml }}
{{- $value := index $.Values.config $key }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- with .Values.auth.existingSecret }}
- name: FLOW_SERVER_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.auth.tokenKey }}
{{- if $.Values.auth.readTokenKey }}
- name: FLOW_SERVER_READ_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.auth.readTokenKey }}
{{- end }}
{{- end }}
- name: LEADER_ELECTION
  value: {{ .Values.leaderElection.enabled | toString | quote }}
{{- if .Values.leaderElection.enabled }}
- name: LEASE_NAME
  value: {{ include "openova-flow-emitter.leaseName" . | quote }}
- name: LEASE_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
{{- end }}

{{/* Fail-fast checks: a chart that would render a pod that cannot start must not render. */}}
{{- define "openova-flow-emitter.validate" -}}
{{- $_ := include "openova-flow-emitter.image" . }}
{{- $url := required "flowServerUrl is required: the base URL of openova-flow-server, e.g. https://openova-flow.example.org" .Values.flowServerUrl }}
{{- if not (regexMatch "^https?://[^/?#]+" $url) }}
{{- fail (printf "flowServerUrl must be an http:// or https:// URL, got %q" $url) }}
{{- end }}
{{- $flowId := toString (required "flowId is required: the flow this cluster's releases belong to" .Values.flowId) }}
{{- if not (regexMatch "^[A-Za-z0-9._:-]{1,128}$" $flowId) }}
{{- fail (printf "flowId must be 1-128 characters of A-Z a-z 0-9 . _ : -, got %q" $flowId) }}
{{- end }}
{{- $region := toString (required "regionKey is required: this cluster's region, e.g. fsn1" .Values.regionKey) }}
{{- if contains "/" $region }}
{{- fail (printf "regionKey must not contain '/', got %q" $region) }}
{{- end }}
{{- $known := values (include "openova-flow-emitter.settings" . | fromYaml) }}
{{- range $key, $_ := .Values.config }}
{{- if not (has $key $known) }}
{{- fail (printf "config.%s is not a setting of openova-flow-adapter-flux (known: %s)" $key (join ", " (sortAlpha $known))) }}
{{- end }}
{{- end }}
{{- $port := int .Values.containerPort }}
{{- if or (lt $port 1) (gt $port 65535) }}
{{- fail "containerPort must be a port number between 1 and 65535" }}
{{- end }}
{{- if and .Values.auth.existingSecret (not .Values.auth.tokenKey) }}
{{- fail "auth.tokenKey is required when auth.existingSecret is set" }}
{{- end }}
{{- if not (has .Values.kind (list "DaemonSet" "Deployment")) }}
{{- fail (printf "kind must be DaemonSet or Deployment, got %q" (toString .Values.kind)) }}
{{- end }}
{{- if not .Values.leaderElection.enabled }}
{{- if eq .Values.kind "DaemonSet" }}
{{- fail "leaderElection.enabled must be true when kind is DaemonSet: every pod would post the same events" }}
{{- end }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail "leaderElection.enabled must be true when replicaCount is more than 1: every pod would post the same events" }}
{{- end }}
{{- end }}
{{- end }}
