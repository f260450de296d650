package kafkatest_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// freePort asks the kernel for a loopback port that is free right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// TestKcatAgreesWithReadCommitted has Debian's kcat (librdkafka, an
// independent client) read a topic holding committed and aborted sarama
// transactions with isolation.level=read_committed, and checks that it sees
// exactly what ReadCommitted returns. Set STREAMKIT_KCAT to the kcat binary
// (e.g. /usr/bin/kcat) to run it.
func TestKcatAgreesWithReadCommitted(t *testing.T) {
	kcat := os.Getenv("STREAMKIT_KCAT")
	if kcat == "" {
		t.Skip("STREAMKIT_KCAT is not set (path to kcat)")
	}
	ctx := testCtx(t)

	// Fixed port: kcat gets it on its command line. Another process may
	// grab the port between freePort and the listen, hence the retries.
	var c *kafkatest.Cluster
	var err error
	for range 5 {
		c, err = kafkatest.Start(kafkatest.Ports(freePort(t)), kafkatest.SeedTopics(3, "kc"))
		if err == nil {
			break
		}
	}
	require.NoError(t, err)
	t.Cleanup(c.Close)

	p := txnProducer(t, c, "tx-kcat")
	for i := range 4 {
		require.NoError(t, p.BeginTxn())
		sendAll(t, p, "kc", names(fmt.Sprintf("txn%d", i), 5)...)
		if i%2 == 0 {
			require.NoError(t, p.CommitTxn())
		} else {
			require.NoError(t, p.AbortTxn())
		}
	}
	require.NoError(t, c.Produce(ctx, "kc", kafkatest.Record{Partition: 2, Key: []byte("plain"), Value: []byte("plain")}))

	want, err := c.ReadCommitted(ctx, "kc")
	require.NoError(t, err)
	require.Len(t, want, 11)
	var wantLines []string
	for _, r := range want {
		wantLines = append(wantLines, fmt.Sprintf("%d %d %s %s", r.Partition, r.Offset, r.Key, r.Value))
	}

	kctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	// Straight to the brokers: on a real cluster, not through the harness.
	brokers, topic := c.Direct("kc")
	cmd := exec.CommandContext(kctx, kcat, "-b", strings.Join(brokers, ","), "-C", "-t", topic, "-o", "beginning", "-e", "-q",
		"-X", "isolation.level=read_committed", "-f", `%p %o %k %s\n`)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "kcat: %s", stderr.String())
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	sort.Strings(got)
	sort.Strings(wantLines)
	assert.Equal(t, wantLines, got)

	// And read_uncommitted kcat sees the aborted ones too, so the
	// agreement above is not an accident of an empty filter.
	cmd = exec.CommandContext(kctx, kcat, "-b", strings.Join(brokers, ","), "-C", "-t", topic, "-o", "beginning", "-e", "-q",
		"-X", "isolation.level=read_uncommitted", "-f", `%s\n`)
	out, err = cmd.Output()
	require.NoError(t, err)
	assert.Len(t, strings.Split(strings.TrimSpace(string(out)), "\n"), 21)
}
