{{/*
Checks across keys that values.schema.json cannot express. Each one stops the render
(`helm template`, `helm install`, `helm upgrade`) with a message naming the keys and the
fix. Included by every rendered template and by spanrelay.container, so a host chart that
only includes the named templates is checked too; it renders nothing itself.
*/}}
{{- define "spanrelay.validate" -}}
{{- $otel := .Values.otel -}}
{{- $s := .Values.sidecar -}}
{{- if and $otel.enabled (not $otel.endpoint) -}}
{{- fail "spanrelay: otel.enabled is true but otel.endpoint is empty: set otel.endpoint to the backend's OTLP URL (for example http://tempo.observability.svc:4317), or set otel.enabled=false" -}}
{{- end -}}
{{- if and $otel.headersSecretName (not $otel.enabled) -}}
{{- fail (printf "spanrelay: otel.headersSecretName is set (%q) but otel.enabled is false: the Secret would never be consumed; set otel.enabled=true with an endpoint, or remove otel.headersSecretName" $otel.headersSecretName) -}}
{{- end -}}
{{- if and (eq $otel.sampler.rule "consistent") (eq $otel.sampler.decidedBy "sdk") -}}
{{- fail "spanrelay: otel.sampler.rule consistent decides every span in the sidecar, but otel.sampler.decidedBy is sdk: the applications would already have dropped most traces by their own rule, and the sidecar would keep about samplingRatio^2 of them while marking them as samplingRatio; set otel.sampler.decidedBy=sidecar, or otel.sampler.rule=auto" -}}
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
