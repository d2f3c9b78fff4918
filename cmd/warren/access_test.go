package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key; it returns the
// file names and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "warren test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// The binary serves amqps from --tls-listen (here given through WARREN_TLS_LISTEN) with
// --tls-cert and --tls-key, next to plain AMQP, and offers the tuned limits.
func TestServesTLSAndLimitsFromFlags(t *testing.T) {
	bin := buildWarren(t)
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	tlsAddr := freePort(t)
	t.Setenv("WARREN_TLS_LISTEN", tlsAddr)
	_, addr := startWarren(t, bin, "--in-memory", "--listen", freePort(t), "--tls-cert", certFile, "--tls-key", keyFile,
		"--channel-max", "7", "--frame-max", "8KiB")
	c, err := amqp091.DialTLS("amqps://guest:guest@"+tlsAddr+"/", &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.ConnectionState().HandshakeComplete || c.Config.ChannelMax != 7 || c.Config.FrameSize != 8192 {
		t.Fatalf("tls %v channel-max %d frame-max %d", c.ConnectionState().HandshakeComplete, c.Config.ChannelMax, c.Config.FrameSize)
	}
	plain, err := amqp091.Dial("amqp://guest:guest@" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	plain.Close()
}

func TestRefusesBadAccessFlags(t *testing.T) {
	bin := buildWarren(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--frame-max", "100"}, "invalid --frame-max"},
		{[]string{"--channel-max", "0"}, "invalid --channel-max"},
		{[]string{"--max-message-size", "1GiB"}, "invalid --max-message-size"},
		{[]string{"--tls-cert", "x.pem"}, "--tls-cert is set but --tls-listen is not"},
		{[]string{"--tls-listen", "127.0.0.1:0"}, "TLS needs a certificate and a key"},
		{[]string{"--tls-listen", "127.0.0.1:0", "--tls-cert", "missing.pem", "--tls-key", "missing.key"}, "TLS certificate"},
	} {
		cmd := exec.Command(bin, append([]string{"--in-memory", "--listen", "127.0.0.1:0"}, tc.args...)...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: %v\n%s", tc.args, err, out)
		}
	}
}
