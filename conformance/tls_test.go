package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	warren "github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/conformance/warrentest"
)

// TLS (issue 7): an amqps listener with certificates generated here. warren only: the
// reference node has no TLS listener.

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	return k
}

var serial int64

func newCA(t *testing.T, name string) *testCA {
	key := newKey(t)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf certificate for cn; server certificates are for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, cn string, server bool, notAfter time.Time) tls.Certificate {
	key := newKey(t)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	must(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// writePEM writes a certificate and its key as PEM files for amqp.TLSOptions.
func writePEM(t *testing.T, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600))
	der, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	must(t, err)
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600))
	return certFile, keyFile
}

// tlsBroker starts warren with an amqps listener configured through amqp.TLSOptions (as
// the command line does) from files in a temporary folder.
func tlsBroker(t *testing.T, ca *testCA, clientCA bool, require, external bool) *warrentest.Broker {
	dir := t.TempDir()
	certFile, keyFile := writePEM(t, dir, "server", ca.issue(t, "warren-test-server", true, time.Now().Add(time.Hour)))
	opts := warren.TLSOptions{CertFile: certFile, KeyFile: keyFile, RequireClientCert: require}
	if clientCA {
		opts.CAFile = filepath.Join(dir, "ca.pem")
		must(t, os.WriteFile(opts.CAFile, ca.pem, 0o600))
	}
	cfg, err := opts.TLSConfig()
	must(t, err)
	return warrentest.StartWith(t, warrentest.Options{TLS: cfg, Server: func(c *warren.Config) { c.ExternalAuth = external }})
}

func dialTLS(addr, user string, cfg *tls.Config, sasl ...amqp.Authentication) (*amqp.Connection, error) {
	u := "amqps://" + addr + "/"
	if user != "" {
		u = "amqps://" + user + "@" + addr + "/"
	}
	return amqp.DialConfig(u, amqp.Config{TLSClientConfig: cfg, SASL: sasl, Heartbeat: 10 * time.Second, Locale: "en_US"})
}

func TestTLS(t *testing.T) {
	ca := newCA(t, "warren-test-ca")
	otherCA := newCA(t, "some-other-ca")
	hour := time.Now().Add(time.Hour)

	t.Run("server-only", func(t *testing.T) {
		b := tlsBroker(t, ca, false, false, false)
		c, err := dialTLS(b.TLSAddr, "guest:guest", &tls.Config{RootCAs: ca.pool()})
		must(t, err)
		defer c.Close()
		stillServes(t, c)
		if !c.ConnectionState().HandshakeComplete {
			t.Fatal("not TLS")
		}
		// A client that does not trust the server's CA refuses it.
		if _, err := dialTLS(b.TLSAddr, "guest:guest", &tls.Config{RootCAs: otherCA.pool()}); err == nil {
			t.Fatal("a client trusting another CA connected")
		}
		// The plain listener still serves.
		stillServes(t, dialT(t, b.URL))
	})

	t.Run("mutual", func(t *testing.T) {
		b := tlsBroker(t, ca, true, true, false)
		cert := ca.issue(t, "guest", false, hour)
		c, err := dialTLS(b.TLSAddr, "guest:guest", &tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{cert}})
		must(t, err)
		defer c.Close()
		stillServes(t, c)
		if _, err := dialTLS(b.TLSAddr, "guest:guest", &tls.Config{RootCAs: ca.pool()}); err == nil {
			t.Fatal("connected without a client certificate although one is required")
		}
	})

	t.Run("wrong-CA", func(t *testing.T) {
		b := tlsBroker(t, ca, true, false, true)
		cert := otherCA.issue(t, "guest", false, hour)
		// Go's client would send no certificate at all to a server that asks for
		// another CA's: force it, as a misconfigured client does.
		send := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		_, err := dialTLS(b.TLSAddr, "guest:guest", &tls.Config{RootCAs: ca.pool(), GetClientCertificate: send})
		if err == nil {
			t.Fatal("a certificate of another CA was accepted")
		}
		stillServes(t, dialT(t, b.URL))
	})

	t.Run("expired", func(t *testing.T) {
		b := tlsBroker(t, ca, true, false, true)
		cert := ca.issue(t, "guest", false, time.Now().Add(-time.Hour))
		_, err := dialTLS(b.TLSAddr, "guest:guest", &tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{cert}})
		if err == nil {
			t.Fatal("an expired client certificate was accepted")
		}
		stillServes(t, dialT(t, b.URL))
	})

	t.Run("EXTERNAL", func(t *testing.T) {
		b := tlsBroker(t, ca, true, false, true)
		// A user without a password: it can log in with a certificate only.
		must(t, b.Core.AddUser("tls-client", "", nil))
		must(t, b.Core.SetPermissions("tls-client", "/", ".*", ".*", ".*"))
		cfg := &tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{ca.issue(t, "tls-client", false, hour)}}
		c, err := dialTLS(b.TLSAddr, "", cfg, &amqp.ExternalAuth{})
		must(t, err)
		defer c.Close()
		// Validated user-id proves who the broker thinks we are.
		ch := chanT(t, c)
		q, err := ch.QueueDeclare("", false, true, true, false, nil)
		must(t, err)
		must(t, ch.Publish("", q.Name, false, false, amqp.Publishing{UserId: "tls-client", Body: []byte("me")}))
		stillServes(t, c)

		// No password login for that user, and no EXTERNAL for an unknown CN or without
		// a certificate.
		if _, err := dialTLS(b.TLSAddr, "tls-client:", &tls.Config{RootCAs: ca.pool()}); err == nil {
			t.Fatal("a passwordless user logged in with PLAIN")
		}
		unknown := &tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{ca.issue(t, "nobody", false, hour)}}
		_, err = dialTLS(b.TLSAddr, "", unknown, &amqp.ExternalAuth{})
		var e *amqp.Error
		if !errors.As(err, &e) || e.Code != amqp.AccessRefused {
			t.Fatalf("EXTERNAL for an unknown CN: got %v, want 403", err)
		}
		_, err = dialTLS(b.TLSAddr, "", &tls.Config{RootCAs: ca.pool()}, &amqp.ExternalAuth{})
		if !errors.As(err, &e) || e.Code != amqp.AccessRefused {
			t.Fatalf("EXTERNAL without a certificate: got %v, want 403", err)
		}
		// EXTERNAL is not offered on the plain listener.
		if _, err := amqp.DialConfig("amqp://"+b.Addr+"/", amqp.Config{SASL: []amqp.Authentication{&amqp.ExternalAuth{}}}); !errors.Is(err, amqp.ErrSASL) {
			t.Fatalf("EXTERNAL on plain TCP: got %v, want ErrSASL", err)
		}
	})
}
