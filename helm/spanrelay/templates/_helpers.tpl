{{/*
spanrelay's named templates. A host chart lists this chart as a dependency (with
example.enabled=false) and includes these in its own pod spec, passing the dependency's
scope, `.Subcharts.spanrelay` (or `.Subcharts.<alias>`), so that they read this chart's
values and the ConfigMap this chart renders:

  spec:
    {{- with include "spanrelay.terminationGracePeriodSeconds" .Subcharts.spanrelay }}
    terminationGracePeriodSeconds: {{ . }}
    {{- end }}
    {{- with include "spanrelay.podSecurityContext" .Subcharts.spanrelay }}
    securityContext:
      {{- . | nindent 6 }}
    {{- end }}
    {{- with include "spanrelay.initContainers" .Subcharts.spanrelay }}
    initContainers:
      {{- . | nindent 6 }}
    {{- end }}
    containers:
      - name: web
        env:
          - name: APP_SETTING
            value: "1"
          {{- include "spanrelay.appEnv" .Subcharts.spanrelay | nindent 10 }}
        {{- with include "spanrelay.appVolumeMounts" .Subcharts.spanrelay }}
        volumeMounts:
          {{- . | nindent 10 }}
        {{- end }}
      {{- include "spanrelay.containers" .Subcharts.spanrelay | nindent 6 }}
    {{- with include "spanrelay.volumes" .Subcharts.spanrelay }}
    volumes:
      {{- . | nindent 6 }}
    {{- end }}

Every template renders nothing while otel.enabled is false, so the host's pod is exactly
what it was without the sidecar (hence `with` around keys that would otherwise be left
empty). Lists are rendered as YAML sequence items ("- ...") to be indented with nindent into
the host's own lists. A host pod that already sets securityContext or imagePullSecrets
merges spanrelay.podSecurityContext (fsGroup) and sidecar.imagePullSecrets into its own.
*/}}

{{- define "spanrelay.name" -}}
spanrelay
{{- end }}

{{/*
Built from the release name and a fixed "spanrelay", not from .Chart.Name, so the name is
the same whether the chart is installed alone or as a dependency under an alias.
*/}}
{{- define "spanrelay.fullname" -}}
{{- if contains "spanrelay" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-spanrelay" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end }}

{{- define "spanrelay.configMapName" -}}
{{- printf "%s-config" (include "spanrelay.fullname" . | trunc 56 | trimSuffix "-") -}}
{{- end }}

{{- define "spanrelay.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "spanrelay.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "spanrelay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spanrelay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "spanrelay.image" -}}
{{- $img := .Values.sidecar.image -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end }}

{{- define "spanrelay.socketPath" -}}
{{- printf "%s/otlp.sock" (trimSuffix "/" .Values.sidecar.socketDir) -}}
{{- end }}

{{- /* The image's ENTRYPOINT is the daemon; this is where the ConfigMap is mounted. */}}
{{- define "spanrelay.configDir" -}}
/etc/spanrelay
{{- end }}

{{- /* The spool's emptyDir, mounted in the sidecar only: buffer.spool.dir. */}}
{{- define "spanrelay.spoolDir" -}}
/var/lib/spanrelay/spool
{{- end }}

{{- define "spanrelay.spoolEnabled" -}}
{{- if and .Values.otel.enabled .Values.sidecar.spool.enabled -}}
true
{{- end -}}
{{- end }}

{{/*
sidecar.spool.sizeLimit (Mi or Gi) in MiB.
*/}}
{{- define "spanrelay.spoolSizeMiB" -}}
{{- $q := toString .Values.sidecar.spool.sizeLimit -}}
{{- $n := int64 (regexReplaceAll "^([0-9]+)(Mi|Gi)$" $q "${1}") -}}
{{- if hasSuffix "Gi" $q -}}
{{- $n = mul $n 1024 -}}
{{- end -}}
{{- $n -}}
{{- end }}

{{/*
buffer.spool.maxBytes: three quarters of the emptyDir's sizeLimit. The daemon keeps its
segment files under maxBytes; the last quarter is for what recovery moves aside (.bad
segments, each at most maxBytes/16) and the cursor file, so the volume never reaches the
limit past which the kubelet evicts the pod. One lane: the chart renders no destinations[].
*/}}
{{- define "spanrelay.spoolMaxBytes" -}}
{{- $mib := int64 (include "spanrelay.spoolSizeMiB" .) -}}
{{- if eq (mod $mib 4) 0 -}}
{{- printf "%dMiB" (div (mul $mib 3) 4) -}}
{{- else -}}
{{- printf "%dKiB" (mul $mib 768) -}}
{{- end -}}
{{- end }}

{{/*
The daemon's configuration file. The otel block is .Values.otel as given (the daemon
accepts headersSecretName and ignores it); the receiver and exporter maps hold exactly the
daemon's keys (values.schema.json closes them), so they pass through unchanged too, but for
the numbers: a value given with `--set` or `--set-string` may be its text ("0.1", "256"),
which is written back as the number it stands for.
The socket lives in the shared emptyDir and /health listens on every address of the pod,
because kubelet probes arrive on the pod IP, not on its loopback.
*/}}
{{- define "spanrelay.config" -}}
{{- $otel := deepCopy .Values.otel -}}
{{- $_ := set $otel "samplingRatio" (float64 .Values.otel.samplingRatio) -}}
{{- $receiver := deepCopy (.Values.sidecar.receiver | default dict) -}}
{{- include "spanrelay.numbersIn" (list $receiver "maxRequestBytes" "maxConnections") -}}
{{- $buffer := dict "maxBytes" .Values.sidecar.bufferMaxBytes -}}
{{- include "spanrelay.numbersIn" (list $buffer "maxBytes") -}}
{{- if include "spanrelay.spoolEnabled" . -}}
{{- $_ := set $buffer "spool" (dict "dir" (include "spanrelay.spoolDir" .) "maxBytes" (include "spanrelay.spoolMaxBytes" .) "sync" .Values.sidecar.spool.sync) -}}
{{- end -}}
{{- $exporter := deepCopy (.Values.sidecar.exporter | default dict) -}}
{{- include "spanrelay.numbersIn" (list $exporter "maxBatchBytes" "maxBatchSpans" "batchTimeout" "timeout") -}}
{{- with $exporter.retry -}}
{{- include "spanrelay.numbersIn" (list . "initialInterval" "maxInterval" "maxElapsedTime") -}}
{{- end -}}
# Rendered by the spanrelay Helm chart from its values; see config/spanrelay.yaml for
# every key. The otel block is the chart's otel block, its numbers written as numbers.
otel:
  {{- toYaml $otel | nindent 2 }}
receiver:
  socket: {{ include "spanrelay.socketPath" . | quote }}
  {{- with $receiver }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
buffer:
  {{- toYaml $buffer | nindent 2 }}
{{- with $exporter }}
exporter:
  {{- toYaml . | nindent 2 }}
{{- end }}
health:
  listen: {{ printf "0.0.0.0:%d" (int .Values.sidecar.healthPort) | quote }}
shutdownTimeout: {{ printf "%ds" (int .Values.sidecar.shutdownTimeoutSeconds) }}
log:
  level: {{ .Values.sidecar.logLevel }}
{{- end }}

{{/*
Argument: (list MAP KEY...). Each KEY of MAP whose value is the text of a whole number (what
`--set-string`, or `--set` for some values, hands over) becomes that number, so the daemon's
file says 256, not "256". Sizes and durations with a unit stay text.
*/}}
{{- define "spanrelay.numbersIn" -}}
{{- $m := first . -}}
{{- range $k := rest . -}}
{{- if and (hasKey $m $k) (typeIs "string" (index $m $k)) (regexMatch "^(0|[1-9][0-9]*)$" (toString (index $m $k))) -}}
{{- $_ := set $m $k (int64 (index $m $k)) -}}
{{- end -}}
{{- end -}}
{{- end }}

{{- define "spanrelay.resourceAttributes" -}}
{{- $attrs := list "k8s.pod.name=$(SPANRELAY_POD_NAME)" "k8s.namespace.name=$(SPANRELAY_POD_NAMESPACE)" "k8s.pod.uid=$(SPANRELAY_POD_UID)" "k8s.node.name=$(SPANRELAY_NODE_NAME)" -}}
{{- range $k, $v := .Values.sidecar.resourceAttributes -}}
{{- $attrs = append $attrs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $attrs -}}
{{- end }}

{{- define "spanrelay.healthProbe" -}}
httpGet:
  path: /health
  port: {{ int .Values.sidecar.healthPort }}
{{- end }}

{{/*
The sidecar container, as one sequence item. Native mode makes it an init container with
restartPolicy: Always: kubelet starts it (and waits for its startup probe, i.e. for the
socket) before the application, and stops it only after the application has exited.
*/}}
{{- define "spanrelay.container" -}}
{{- include "spanrelay.validate" . -}}
{{- if .Values.otel.enabled -}}
{{- $s := .Values.sidecar -}}
- name: spanrelay
  image: {{ include "spanrelay.image" . | quote }}
  imagePullPolicy: {{ $s.image.pullPolicy | default "IfNotPresent" }}
  {{- if eq $s.mode "native" }}
  restartPolicy: Always
  {{- end }}
  args:
    - -c
    - {{ printf "%s/spanrelay.yaml" (include "spanrelay.configDir" .) }}
  ports:
    - name: spanrelay-http
      containerPort: {{ int $s.healthPort }}
      protocol: TCP
  env:
    - name: SPANRELAY_POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: SPANRELAY_POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    - name: SPANRELAY_POD_UID
      valueFrom:
        fieldRef:
          fieldPath: metadata.uid
    - name: SPANRELAY_NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    # Added to every resource that lacks them, so a span says which pod it came from.
    - name: OTEL_RESOURCE_ATTRIBUTES
      value: {{ include "spanrelay.resourceAttributes" . | quote }}
    {{- with .Values.otel.headersSecretName }}
    # Not optional: a misspelt Secret shows up as CreateContainerConfigError at once,
    # instead of as a backend silently refusing unauthenticated exports.
    - name: OTEL_EXPORTER_OTLP_HEADERS
      valueFrom:
        secretKeyRef:
          name: {{ . | quote }}
          key: OTEL_EXPORTER_OTLP_HEADERS
    {{- end }}
  volumeMounts:
    - name: spanrelay-socket
      mountPath: {{ $s.socketDir | quote }}
    - name: spanrelay-config
      mountPath: {{ include "spanrelay.configDir" . }}
      readOnly: true
    {{- if include "spanrelay.spoolEnabled" . }}
    - name: spanrelay-spool
      mountPath: {{ include "spanrelay.spoolDir" . }}
    {{- end }}
  # Up to 30 s to start; in native mode the application waits for this.
  startupProbe:
    {{- include "spanrelay.healthProbe" . | nindent 4 }}
    periodSeconds: 1
    timeoutSeconds: 1
    failureThreshold: 30
  livenessProbe:
    {{- include "spanrelay.healthProbe" . | nindent 4 }}
    periodSeconds: 10
    timeoutSeconds: 2
    failureThreshold: 3
  readinessProbe:
    {{- include "spanrelay.healthProbe" . | nindent 4 }}
    periodSeconds: 5
    timeoutSeconds: 2
    failureThreshold: 3
  {{- if and (eq $s.mode "classic") (gt (int $s.classicPreStopSleepSeconds) 0) }}
  # A classic sidecar is stopped together with the application: waiting before SIGTERM
  # leaves the application time to flush its last spans into the socket.
  lifecycle:
    preStop:
      exec:
        command:
          - sleep
          - {{ int $s.classicPreStopSleepSeconds | quote }}
  {{- end }}
  terminationMessagePolicy: FallbackToLogsOnError
  {{- with $s.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: {{ int ($s.securityContext.runAsUser | default 10001) }}
    runAsGroup: {{ int ($s.securityContext.runAsGroup | default 10001) }}
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    privileged: false
    capabilities:
      drop:
        - ALL
    seccompProfile:
      type: RuntimeDefault
{{- end -}}
{{- end }}

{{- /* The sidecar as an init container item: native mode only. */}}
{{- define "spanrelay.initContainers" -}}
{{- if and .Values.otel.enabled (eq .Values.sidecar.mode "native") -}}
{{- include "spanrelay.container" . -}}
{{- end -}}
{{- end }}

{{- /* The sidecar as a regular container item: classic mode only. */}}
{{- define "spanrelay.containers" -}}
{{- if and .Values.otel.enabled (eq .Values.sidecar.mode "classic") -}}
{{- include "spanrelay.container" . -}}
{{- end -}}
{{- end }}

{{/*
The pod's volumes: the socket directory (memory-backed: it only ever holds the socket), the
daemon's configuration and the spool. The spool is on the node's disk, not in memory
(medium: Memory would charge it to the containers' memory limits), and its directory
survives the sidecar's restarts, which is what lets a new process send what an OOM-killed
or crashed one had spooled.
*/}}
{{- define "spanrelay.volumes" -}}
{{- if .Values.otel.enabled -}}
- name: spanrelay-socket
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
- name: spanrelay-config
  configMap:
    name: {{ include "spanrelay.configMapName" . }}
    items:
      - key: spanrelay.yaml
        path: spanrelay.yaml
{{- if include "spanrelay.spoolEnabled" . }}
- name: spanrelay-spool
  emptyDir:
    sizeLimit: {{ .Values.sidecar.spool.sizeLimit }}
{{- end }}
{{- end -}}
{{- end }}

{{- define "spanrelay.appVolumeMounts" -}}
{{- if .Values.otel.enabled -}}
- name: spanrelay-socket
  mountPath: {{ .Values.sidecar.socketDir | quote }}
{{- end -}}
{{- end }}

{{/*
The application container's environment: its OpenTelemetry SDK exports OTLP/gRPC to the
sidecar's socket (gRPC exporters take unix:///path; the socket needs no TLS, and gRPC
clients default to TLS for anything but http://, hence INSECURE). With
otel.sampler.decidedBy sdk it samples with the ratio the sidecar applies, so both make the
same decision for every trace (an SDK deciding as the Python SDK does); with sidecar it
sends every span and the sidecar alone decides.
*/}}
{{- define "spanrelay.appEnv" -}}
{{- if .Values.otel.enabled -}}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ printf "unix://%s" (include "spanrelay.socketPath" .) | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: grpc
- name: OTEL_EXPORTER_OTLP_INSECURE
  value: "true"
- name: OTEL_SERVICE_NAME
  value: {{ .Values.otel.serviceName | quote }}
{{- if eq .Values.otel.sampler.decidedBy "sidecar" }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_always_on
{{- else }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ float64 .Values.otel.samplingRatio | toString | quote }}
{{- end }}
{{- end -}}
{{- end }}

{{/*
Pod-level: every container gets the socket directory's group, so the application can use
the group-only socket whatever user it runs as.
*/}}
{{- define "spanrelay.podSecurityContext" -}}
{{- if .Values.otel.enabled -}}
fsGroup: {{ int .Values.sidecar.fsGroup }}
{{- end -}}
{{- end }}

{{- define "spanrelay.terminationGracePeriodSeconds" -}}
{{- if .Values.otel.enabled -}}
{{- int .Values.sidecar.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end }}

{{- /* Rolls the pods when the daemon's configuration changes. */}}
{{- define "spanrelay.podAnnotations" -}}
{{- if .Values.otel.enabled -}}
checksum/spanrelay-config: {{ include "spanrelay.config" . | sha256sum }}
{{- end -}}
{{- end }}

{{- define "spanrelay.imagePullSecrets" -}}
{{- if .Values.otel.enabled -}}
{{- with .Values.sidecar.imagePullSecrets -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}
{{- end }}
