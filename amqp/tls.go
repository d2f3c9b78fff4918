package amqp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSOptions describe an amqps listener (RW:docs/ssl.md). CertFile and KeyFile are the
// server's PEM certificate (chain) and key. With CAFile, client certificates are verified
// against those CAs: a client that presents none is accepted (RabbitMQ's verify_peer with
// fail_if_no_peer_cert = false) unless RequireClientCert (fail_if_no_peer_cert = true).
type TLSOptions struct {
	CertFile, KeyFile string
	CAFile            string
	RequireClientCert bool
}

// TLSConfig builds the server's tls.Config: TLS 1.2 or later, as RabbitMQ's default
// versions since 3.9.
func (o TLSOptions) TLSConfig() (*tls.Config, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("amqp: TLS needs a certificate and a key")
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("amqp: TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("amqp: TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("amqp: TLS CA: no PEM certificate in %s", o.CAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if o.RequireClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	} else if o.RequireClientCert {
		return nil, errors.New("amqp: requiring client certificates needs a CA to verify them")
	}
	return cfg, nil
}
