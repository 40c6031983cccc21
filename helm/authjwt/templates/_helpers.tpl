{{/* Chart name. */}}
{{- define "authjwt.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release name, with the chart name appended unless the release name contains it. */}}
{{- define "authjwt.fullname" -}}
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

{{- define "authjwt.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of the release. */}}
{{- define "authjwt.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authjwt.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "authjwt.labels" -}}
helm.sh/chart: {{ include "authjwt.chart" . }}
{{ include "authjwt.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: authjwt
{{- end }}

{{- define "authjwt.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "authjwt.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "authjwt.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the Secret with the signing keys; fails with a clear message when none is configured. */}}
{{- define "authjwt.keysSecretName" -}}
{{- if and .Values.keys.existingSecret .Values.keys.generate }}
{{- fail "keys: set either keys.existingSecret or keys.generate (DEV ONLY), not both" }}
{{- else if .Values.keys.existingSecret }}
{{- .Values.keys.existingSecret }}
{{- else if .Values.keys.generate }}
{{- printf "%s-keys" (include "authjwt.fullname" .) }}
{{- else }}
{{- fail "keys: set keys.existingSecret to a Secret with your signing keys (PEM or JWK private keys, see docs/key-rotation.md), or keys.generate=true for a DEV ONLY generated key" }}
{{- end }}
{{- end }}

{{- define "authjwt.grpcLoopback" -}}
{{- if has .Values.grpcListenAddress (list "127.0.0.1" "[::1]") }}true{{ end }}
{{- end }}

{{/* HTTP scheme of the HTTP port. */}}
{{- define "authjwt.httpScheme" -}}
{{- if and .Values.tls.enabled .Values.tls.http }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/*
The authjwt config file: values.config plus what the chart owns (keys.dir, listeners, TLS files).
Chart-owned fields in values.config are rejected by values.schema.json; checked here too.
*/}}
{{- define "authjwt.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $keys := get $cfg "keys" | default dict }}
{{- if or (hasKey $keys "dir") (hasKey $keys "ephemeral") }}
{{- fail "config.keys.dir / config.keys.ephemeral are set by the chart: use keys.existingSecret (or keys.generate, DEV ONLY)" }}
{{- end }}
{{- $_ := set $keys "dir" .Values.keys.mountPath }}
{{- $_ := set $cfg "keys" $keys }}
{{- $grpc := get $cfg "grpc" | default dict }}
{{- $http := get $cfg "http" | default dict }}
{{- if or (hasKey $grpc "listen") (hasKey $http "listen") }}
{{- fail "config.grpc.listen / config.http.listen are set by the chart: use ports.grpc, ports.http and grpcListenAddress" }}
{{- end }}
{{- if or (hasKey $grpc "tls") (hasKey $http "tls") }}
{{- fail "config.grpc.tls / config.http.tls are set by the chart: use tls.enabled, tls.secretName, tls.clientAuth and tls.http" }}
{{- end }}
{{- $_ := set $grpc "listen" (printf "%s:%d" .Values.grpcListenAddress (int .Values.ports.grpc)) }}
{{- $_ := set $http "listen" (printf "0.0.0.0:%d" (int .Values.ports.http)) }}
{{- if .Values.tls.enabled }}
{{- if not .Values.tls.secretName }}
{{- fail "tls.enabled: set tls.secretName to a kubernetes.io/tls Secret (tls.crt, tls.key; ca.crt for tls.clientAuth)" }}
{{- end }}
{{- if get $grpc "plaintext" }}
{{- fail "tls.enabled and config.grpc.plaintext cannot both be set" }}
{{- end }}
{{- $tls := dict "certFile" (printf "%s/tls.crt" .Values.tls.mountPath) "keyFile" (printf "%s/tls.key" .Values.tls.mountPath) }}
{{- $grpcTls := deepCopy $tls }}
{{- if .Values.tls.clientAuth }}
{{- $_ := set $grpcTls "clientCaFile" (printf "%s/ca.crt" .Values.tls.mountPath) }}
{{- end }}
{{- $_ := set $grpc "tls" $grpcTls }}
{{- if .Values.tls.http }}
{{- $_ := set $http "tls" $tls }}
{{- end }}
{{- else if or .Values.tls.clientAuth .Values.tls.http }}
{{- fail "tls.clientAuth and tls.http need tls.enabled" }}
{{- end }}
{{- $_ := set $cfg "grpc" $grpc }}
{{- $_ := set $cfg "http" $http }}
{{- /* ---- edge doors (issue 12): the internal listener and the door switches ---- */}}
{{- $internal := get $cfg "internalHttp" | default dict }}
{{- if or (hasKey $internal "listen") (hasKey $internal "tls") }}
{{- fail "config.internalHttp.listen / config.internalHttp.tls are set by the chart: use ports.internal and tls.http" }}
{{- end }}
{{- $_ := set $internal "listen" (printf "0.0.0.0:%d" (int .Values.ports.internal)) }}
{{- if and .Values.tls.enabled .Values.tls.http }}
{{- $_ := set $internal "tls" (dict "certFile" (printf "%s/tls.crt" .Values.tls.mountPath) "keyFile" (printf "%s/tls.key" .Values.tls.mountPath)) }}
{{- end }}
{{- /* ---- issue 21: the trust bundle of the token endpoint's client certificates ---- */}}
{{- with .Values.tokenEndpoint.clientTrustBundle.configMap }}
{{- if not (and $.Values.tls.enabled $.Values.tls.http) }}
{{- fail "tokenEndpoint.clientTrustBundle needs tls.enabled and tls.http: client certificates are asked for on the HTTPS internal listener" }}
{{- end }}
{{- $_ := set $internal.tls "clientCaFile" (printf "%s/%s" $.Values.tokenEndpoint.clientTrustBundle.mountPath $.Values.tokenEndpoint.clientTrustBundle.key) }}
{{- end }}
{{- $_ := set $cfg "internalHttp" $internal }}
{{- if .Values.tokenEndpoint.enabled }}
{{- $te := get $cfg "tokenEndpoint" | default dict }}
{{- $_ := set $te "enabled" true }}
{{- $_ := set $cfg "tokenEndpoint" $te }}
{{- end }}
{{- $edge := get $cfg "edge" | default dict }}
{{- range $door := list "extAuthz" "forwardAuth" }}
{{- if (get $.Values.edge $door).enabled }}
{{- $settings := get $edge $door | default dict }}
{{- $_ := set $settings "enabled" true }}
{{- $_ := set $edge $door $settings }}
{{- end }}
{{- end }}
{{- if $edge }}
{{- $_ := set $cfg "edge" $edge }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
Kubernetes providers (issue 21): what the config's kubernetes providers need from the API server, as JSON
{"api": <reads keys from the API server or sends TokenReviews>, "review": <sends TokenReviews>}.
*/}}
{{- define "authjwt.kubernetesNeeds" -}}
{{- $api := false }}
{{- $review := false }}
{{- range (dig "providers" list (.Values.config | default dict)) }}
{{- with .kubernetes }}
{{- if or (not .jwksFile) .tokenReview }}{{ $api = true }}{{ end }}
{{- if .tokenReview }}{{ $review = true }}{{ end }}
{{- end }}
{{- end }}
{{- dict "api" $api "review" $review | toJson }}
{{- end }}

{{/* "true" when authjwt's service-account token is mounted (kubernetesProviders.mountServiceAccountToken). */}}
{{- define "authjwt.mountServiceAccountToken" -}}
{{- $v := .Values.kubernetesProviders.mountServiceAccountToken }}
{{- if kindIs "string" $v }}{{ if (include "authjwt.kubernetesNeeds" . | fromJson).api }}true{{ end }}{{ else if $v }}true{{ end }}
{{- end }}

{{/* "true" when the ServiceAccount is bound to system:auth-delegator (kubernetesProviders.tokenReviewBinding). */}}
{{- define "authjwt.tokenReviewBinding" -}}
{{- $v := .Values.kubernetesProviders.tokenReviewBinding }}
{{- if kindIs "string" $v }}{{ if (include "authjwt.kubernetesNeeds" . | fromJson).review }}true{{ end }}{{ else if $v }}true{{ end }}
{{- end }}

{{/* "true" when the internal HTTP listener serves a door (forward-auth not moved to the public listener, or the token endpoint). */}}
{{- define "authjwt.internalHttpEnabled" -}}
{{- $fa := dig "edge" "forwardAuth" dict (.Values.config | default dict) }}
{{- $te := dig "tokenEndpoint" "enabled" false (.Values.config | default dict) }}
{{- if or (and (or .Values.edge.forwardAuth.enabled (get $fa "enabled")) (ne (get $fa "listener" | default "internal") "public")) .Values.tokenEndpoint.enabled $te }}true{{ end }}
{{- end }}

{{/* The HTTP(S) GET probe action for PATH. */}}
{{- define "authjwt.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
  scheme: {{ include "authjwt.httpScheme" .root }}
{{- end }}

{{/* Readiness: native gRPC health check, unless gRPC uses TLS or binds loopback (kubelet can't reach/speak it). */}}
{{- define "authjwt.readinessAction" -}}
{{- if or .Values.tls.enabled (include "authjwt.grpcLoopback" .) }}
{{- include "authjwt.httpProbe" (dict "root" . "path" "/readyz") }}
{{- else }}
grpc:
  port: {{ .Values.ports.grpc }}
  service: {{ .Values.probes.grpcService }}
{{- end }}
{{- end }}

{{/* Liveness and startup: HTTP /livez, or the gRPC health check when probes.liveness.mode=grpc. */}}
{{- define "authjwt.livenessAction" -}}
{{- if and (eq .Values.probes.liveness.mode "grpc") (not .Values.tls.enabled) (not (include "authjwt.grpcLoopback" .)) }}
grpc:
  port: {{ .Values.ports.grpc }}
  service: {{ .Values.probes.grpcService }}
{{- else }}
{{- include "authjwt.httpProbe" (dict "root" . "path" "/livez") }}
{{- end }}
{{- end }}

{{/* The authjwt container (a regular container, or a native sidecar). */}}
{{- define "authjwt.container" -}}
name: authjwt
image: {{ include "authjwt.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
env:
  - name: AUTHJWT_CONFIG
    value: /etc/authjwt/config.yaml
  {{- with .Values.env }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.envFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
ports:
  - name: grpc
    containerPort: {{ .Values.ports.grpc }}
    protocol: TCP
  - name: http
    containerPort: {{ .Values.ports.http }}
    protocol: TCP
  {{- if include "authjwt.internalHttpEnabled" . }}
  - name: internal
    containerPort: {{ .Values.ports.internal }}
    protocol: TCP
  {{- end }}
startupProbe:
  {{- include "authjwt.livenessAction" . | trim | nindent 2 }}
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
livenessProbe:
  {{- include "authjwt.livenessAction" . | trim | nindent 2 }}
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
readinessProbe:
  {{- include "authjwt.readinessAction" . | trim | nindent 2 }}
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
{{- with .Values.lifecycle }}
lifecycle:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumeMounts:
  - name: config
    mountPath: /etc/authjwt
    readOnly: true
  - name: keys
    mountPath: {{ .Values.keys.mountPath }}
    readOnly: true
  {{- if .Values.tls.enabled }}
  - name: tls
    mountPath: {{ .Values.tls.mountPath }}
    readOnly: true
  {{- end }}
  {{- range .Values.providerSecrets }}
  - name: provider-{{ .name }}
    mountPath: /var/run/secrets/authjwt/providers/{{ .name }}
    readOnly: true
  {{- end }}
  {{- if .Values.tokenEndpoint.clientTrustBundle.configMap }}
  - name: client-trust
    mountPath: {{ .Values.tokenEndpoint.clientTrustBundle.mountPath }}
    readOnly: true
  {{- end }}
  {{- if include "authjwt.mountServiceAccountToken" . }}
  # kubernetes providers: authjwt's own service-account token and the cluster CA, in this container only
  - name: kube-api-access
    mountPath: /var/run/secrets/kubernetes.io/serviceaccount
    readOnly: true
  {{- end }}
  {{- with .Values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
