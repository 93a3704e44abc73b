// Package otelgrove instruments grove with OpenTelemetry.
package otelgrove
