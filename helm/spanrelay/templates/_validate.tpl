{{/*
Checks across keys that values.schema.json cannot express. Each one stops the render
(`helm template`, `helm install`, `helm upgrade`) with a message naming the keys and the
fix. Included by every rendered template and by spanrelay.container, so a host chart that
only includes the named templates is checked too; it renders nothing itself.
*/}}
{{- define "spanrelay.validate" -}}
{{- $otel := .Values.otel -}}
{{- $s := .Values.sidecar -}}
{{- include "spanrelay.checkRatio" (list "otel.samplingRatio" $otel.samplingRatio) -}}
{{- include "spanrelay.checkRange" (list "sidecar.healthPort" $s.healthPort 1 65535) -}}
{{- include "spanrelay.checkRange" (list "sidecar.shutdownTimeoutSeconds" $s.shutdownTimeoutSeconds 1 3600) -}}
{{- include "spanrelay.checkRange" (list "sidecar.terminationGracePeriodSeconds" $s.terminationGracePeriodSeconds 1 2147483647) -}}
{{- if hasKey $s "classicPreStopSleepSeconds" -}}
{{- include "spanrelay.checkRange" (list "sidecar.classicPreStopSleepSeconds" $s.classicPreStopSleepSeconds 0 300) -}}
{{- end -}}
{{- if hasKey $s "fsGroup" -}}
{{- include "spanrelay.checkRange" (list "sidecar.fsGroup" $s.fsGroup 1 2147483647) -}}
{{- end -}}
{{- with $s.receiver -}}
{{- if hasKey . "maxConnections" -}}
{{- include "spanrelay.checkRange" (list "sidecar.receiver.maxConnections" .maxConnections 1 65536) -}}
{{- end -}}
{{- end -}}
{{- with $s.exporter -}}
{{- if hasKey . "maxBatchSpans" -}}
{{- include "spanrelay.checkRange" (list "sidecar.exporter.maxBatchSpans" .maxBatchSpans 1 1000000) -}}
{{- end -}}
{{- end -}}
{{- range $k := list "runAsUser" "runAsGroup" -}}
{{- if hasKey ($s.securityContext | default dict) $k -}}
{{- include "spanrelay.checkRange" (list (printf "sidecar.securityContext.%s" $k) (index $s.securityContext $k) 1 2147483647) -}}
{{- end -}}
{{- end -}}
{{- if hasKey ($.Values.example | default dict) "replicas" -}}
{{- include "spanrelay.checkRange" (list "example.replicas" $.Values.example.replicas 0 2147483647) -}}
{{- end -}}
{{- if and $otel.enabled (not $otel.endpoint) -}}
{{- fail "spanrelay: otel.enabled is true but otel.endpoint is empty: set otel.endpoint to the backend's OTLP URL (for example http://tempo.observability.svc:4317), or set otel.enabled=false" -}}
{{- end -}}
{{- if and $otel.headersSecretName (not $otel.enabled) -}}
{{- fail (printf "spanrelay: otel.headersSecretName is set (%q) but otel.enabled is false: the Secret would never be consumed; set otel.enabled=true with an endpoint, or remove otel.headersSecretName" $otel.headersSecretName) -}}
{{- end -}}
{{- if and (eq $otel.sampler.rule "consistent") (eq $otel.sampler.decidedBy "sdk") -}}
{{- fail "spanrelay: otel.sampler.rule consistent decides every span in the sidecar, but otel.sampler.decidedBy is sdk: the applications would already have dropped most traces by their own rule, and the sidecar would keep about samplingRatio^2 of them while marking them as samplingRatio; set otel.sampler.decidedBy=sidecar, or otel.sampler.rule=auto" -}}
{{- end -}}
{{- if include "spanrelay.spoolEnabled" . -}}
{{- if gt (int64 (include "spanrelay.spoolSizeMiB" .)) 1398101 -}}
{{- fail (printf "spanrelay: sidecar.spool.sizeLimit (%s) must be at most 1365Gi: the daemon's buffer.spool.maxBytes, three quarters of it, is at most 1024GiB" $s.spool.sizeLimit) -}}
{{- end -}}
{{- end -}}
{{- if $otel.enabled -}}
{{- $drain := int $s.shutdownTimeoutSeconds -}}
{{- if eq $s.mode "classic" -}}
{{- $drain = add $drain (int $s.classicPreStopSleepSeconds) -}}
{{- end -}}
{{- if le (int $s.terminationGracePeriodSeconds) $drain -}}
{{- fail (printf "spanrelay: sidecar.terminationGracePeriodSeconds (%d) must be greater than sidecar.shutdownTimeoutSeconds%s (%d): Kubernetes would kill the sidecar before it has flushed its buffer" (int $s.terminationGracePeriodSeconds) (ternary " + sidecar.classicPreStopSleepSeconds" "" (eq $s.mode "classic")) $drain) -}}
{{- end -}}
{{- /* An older API server drops restartPolicy from an init container without a word, and
     the pod then waits forever for a sidecar that never exits. */ -}}
{{- if and (eq $s.mode "native") (not (semverCompare ">=1.29.0-0" .Capabilities.KubeVersion.Version)) -}}
{{- fail (printf "spanrelay: sidecar.mode native needs Kubernetes >= 1.29 (init containers with restartPolicy: Always), this cluster is %s: set sidecar.mode=classic" .Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
Range checks for the numbers of values.schema.json's "count" and "ratio" forms. The schema
admits a number or its decimal text, because `helm --set` hands a float over as a string and
`--set-string` hands over everything as one; the range is checked here, once, on the value
converted, so every form meets the same bound and the message names the key.
Argument: (list KEY VALUE MIN MAX).
*/}}
{{- define "spanrelay.checkRange" -}}
{{- $key := index . 0 -}}
{{- $v := index . 1 -}}
{{- $n := int64 $v -}}
{{- if or (lt $n (int64 (index . 2))) (gt $n (int64 (index . 3))) -}}
{{- fail (printf "spanrelay: %s must be a whole number from %d to %d, got %v" $key (index . 2) (index . 3) $v) -}}
{{- end -}}
{{- end }}

{{- /* Argument: (list KEY VALUE); VALUE is a number or its text, in [0, 1]. */}}
{{- define "spanrelay.checkRatio" -}}
{{- $r := float64 (index . 1) -}}
{{- if or (lt $r 0.0) (gt $r 1.0) -}}
{{- fail (printf "spanrelay: %s must be a number from 0 to 1, got %v" (index . 0) (index . 1)) -}}
{{- end -}}
{{- end }}
