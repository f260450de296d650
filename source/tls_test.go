package source_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kafkatest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TLS and SASL/PLAIN settings reach sarama: against a broker that requires
// both, the source reads; without SASL it cannot join.
func TestKafkaTLSAndSASL(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cert, pool := selfSigned(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "secure"), kafkatest.KfakeOptions(
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("PLAIN", "updater", "s3cret"),
	))
	clientTLS := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	pc := c.SaramaConfig()
	pc.Net.TLS.Enable, pc.Net.TLS.Config = true, clientTLS
	pc.Net.SASL.Enable, pc.Net.SASL.Mechanism = true, sarama.SASLTypePlaintext
	pc.Net.SASL.User, pc.Net.SASL.Password = "updater", "s3cret"
	p, err := sarama.NewSyncProducer(c.Addrs(), pc)
	require.NoError(t, err)
	defer p.Close()
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: "secure", Value: sarama.StringEncoder("over TLS")})
	require.NoError(t, err)

	k := startSource(t, c, "g", []string{"secure"}, source.WithTLS(clientTLS), source.WithSASLPlain("updater", "s3cret"))
	recs := pollN(t, ctx, k, 1)
	assert.Equal(t, "over TLS", string(recs[0].Value))

	bad, err := source.NewKafka(c.Addrs(), "g2", []string{"secure"}, source.WithBaseConfig(c.SaramaConfig()),
		source.WithLogger(quiet), source.WithTLS(clientTLS), source.WithSaramaConfig(func(sc *sarama.Config) {
			sc.Net.DialTimeout = 2 * time.Second
			sc.Metadata.Retry.Max = 0
		}))
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	assert.Error(t, bad.Run(rctx), "no SASL: the broker refuses")
}
