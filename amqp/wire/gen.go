package wire

// spec.go is generated from the spec XML in the amqp091-go module; see internal/specgen.
//go:generate go run ./internal/specgen
