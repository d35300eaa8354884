{{/*
Names, labels, the image reference, the fail-fast checks, and THE ONE PLACE where this chart
maps values to the server's environment variables ("openova-flow-server.settings" and
"openova-flow-server.env"). deploy/tests/test_drift.py compares these names with the binary.
*/}}

{{- define "openova-flow-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "openova-flow-server.fullname" -}}
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

{{- define "openova-flow-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "openova-flow-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "openova-flow-server.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "openova-flow-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: openova-flow
{{- end }}

{{- define "openova-flow-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "openova-flow-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* <registry>/<repository>:<tag>; the tag has no default. */}}
{{- define "openova-flow-server.image" -}}
{{- $tag := required "image.tag is required (no default): set the openova-flow-server image tag to deploy" .Values.image.tag }}
{{- printf "%s/%s:%s" (trimSuffix "/" .Values.image.registry) .Values.image.repository (toString $tag) }}
{{- end }}

{{/*
Server settings: environment variable -> key under `.Values.config`. A key left null is not
rendered (the binary's default applies). Lists are rendered comma-separated.
*/}}
{{- define "openova-flow-server.settings" -}}
FLOW_SERVER_RING_CAPACITY: ringCapacity
FLOW_SERVER_HEARTBEAT_INTERVAL: heartbeatInterval
FLOW_SERVER_SSE_FLUSH_INTERVAL: sseFlushInterval
FLOW_SERVER_MAX_BODY_BYTES: maxBodyBytes
FLOW_SERVER_INGEST_RATE: ingestRate
FLOW_SERVER_INGEST_BURST: ingestBurst
FLOW_SERVER_NEW_FLOWS_PER_MINUTE: newFlowsPerMinute
FLOW_SERVER_MAX_WAITERS: maxWaiters
FLOW_SERVER_MAX_WAITERS_PER_IP: maxWaitersPerIp
FLOW_SERVER_MAX_CONNECTIONS: maxConnections
FLOW_SERVER_MAX_CONNECTIONS_PER_IP: maxConnectionsPerIp
FLOW_SERVER_REQUEST_HEAD_TIMEOUT: requestHeadTimeout
FLOW_SERVER_MAX_REQUEST_HEAD_BYTES: maxRequestHeadBytes
FLOW_SERVER_TRUSTED_PROXIES: trustedProxies
FLOW_SERVER_CORS_ORIGINS: corsOrigins
FLOW_SERVER_MAX_FLOWS: maxFlows
FLOW_SERVER_MAX_SUBSCRIBERS: maxSubscribers
FLOW_SERVER_FLOW_BYTE_BUDGET: flowByteBudget
FLOW_SERVER_MAX_MEMORY_BYTES: maxMemoryBytes
FLOW_SERVER_IDLE_FLOW_TIMEOUT: idleFlowTimeout
FLOW_SERVER_SHUTDOWN_GRACE: shutdownGrace
FLOW_SERVER_LOG: log
FLOW_SERVER_MAX_STATE_ITEMS: maxStateItems
FLOW_SERVER_UI: ui
FLOW_SERVER_BACKEND: backend
FLOW_SERVER_REQUEST_THREADS: requestThreads
FLOW_SERVER_STREAM_THREADS: streamThreads
FLOW_SERVER_REDIS_FLOW_TTL: redisFlowTtl
FLOW_SERVER_REDIS_TIMEOUT: redisTimeout
{{- end }}

{{/* A value as the binary reads it: whole numbers without exponent, lists comma-joined. */}}
{{- define "openova-flow-server.scalar" -}}
{{- if kindIs "slice" . }}
{{- join "," . }}
{{- else if and (kindIs "float64" .) (eq . (floor .)) }}
{{- int64 . }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{- define "openova-flow-server.env" -}}
- name: FLOW_SERVER_LISTEN_ADDR
  value: {{ printf "0.0.0.0:%d" (int .Values.containerPort) | quote }}
{{- range $name, $key := include "openova-flow-server.settings" . | fromYaml }}
{{- $value := index $.Values.config $key }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ $name }}
  value: {{ include "openova-flow-server.scalar" $value | quote }}
{{- end }}
{{- end }}
{{- with .Values.redis.existingSecret }}
- name: FLOW_SERVER_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.redis.urlKey }}
{{- end }}
{{- with .Values.auth.existingSecret }}
{{- if $.Values.auth.ingestTokensKey }}
- name: FLOW_SERVER_INGEST_TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.auth.ingestTokensKey }}
{{- end }}
{{- if $.Values.auth.readTokensKey }}
- name: FLOW_SERVER_READ_TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.auth.readTokensKey }}
{{- end }}
{{- end }}
{{- end }}

{{/* Fail-fast checks: a chart that would render a pod that cannot start must not render. */}}
{{- define "openova-flow-server.validate" -}}
{{- $_ := include "openova-flow-server.image" . }}
{{- $settings := include "openova-flow-server.settings" . | fromYaml }}
{{- $known := values $settings }}
{{- range $key, $_ := .Values.config }}
{{- if not (has $key $known) }}
{{- fail (printf "config.%s is not a setting of openova-flow-server (known: %s)" $key (join ", " (sortAlpha $known))) }}
{{- end }}
{{- end }}
{{- $backend := default "memory" .Values.config.backend }}
{{- if not (has $backend (list "memory" "redis")) }}
{{- fail (printf "config.backend must be memory or redis, not %v" $backend) }}
{{- end }}
{{- if and (eq $backend "redis") (not (and .Values.redis.existingSecret .Values.redis.urlKey)) }}
{{- fail "redis.existingSecret (with redis.urlKey) is required when config.backend is redis: the Redis URL comes from a Secret" }}
{{- end }}
{{- if and .Values.redis.existingSecret (ne $backend "redis") }}
{{- fail "redis.existingSecret is set but config.backend is not redis" }}
{{- end }}
{{- if lt (int .Values.replicaCount) 1 }}
{{- fail "replicaCount must be at least 1" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (ne $backend "redis") }}
{{- fail "replicaCount > 1 needs config.backend: redis (in memory, each replica would hold only the events it received)" }}
{{- end }}
{{- $port := int .Values.containerPort }}
{{- if or (lt $port 1) (gt $port 65535) }}
{{- fail "containerPort must be a port number between 1 and 65535" }}
{{- end }}
{{- if and .Values.auth.existingSecret (not (or .Values.auth.ingestTokensKey .Values.auth.readTokensKey)) }}
{{- fail "auth.existingSecret is set but auth.ingestTokensKey and auth.readTokensKey are both empty" }}
{{- end }}
{{- if .Values.httpRoute.enabled }}
{{- $_ := required "httpRoute.hostname is required when httpRoute.enabled is true" .Values.httpRoute.hostname }}
{{- $_ := required "httpRoute.parentRef.name is required when httpRoute.enabled is true" .Values.httpRoute.parentRef.name }}
{{- if not (and .Values.auth.existingSecret .Values.auth.ingestTokensKey) }}
{{- fail "auth.existingSecret (with auth.ingestTokensKey) is required when httpRoute.enabled is true: a public ingest endpoint must not be open" }}
{{- end }}
{{- end }}
{{- if .Values.podDisruptionBudget.enabled }}
{{- $min := .Values.podDisruptionBudget.minAvailable }}
{{- $max := .Values.podDisruptionBudget.maxUnavailable }}
{{- if eq (kindIs "invalid" $min) (kindIs "invalid" $max) }}
{{- fail "podDisruptionBudget: set exactly one of podDisruptionBudget.minAvailable and podDisruptionBudget.maxUnavailable" }}
{{- end }}
{{- end }}
{{- end }}
