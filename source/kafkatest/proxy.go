package kafkatest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// nsProxy sits between the clients of one Cluster and a real Kafka cluster
// shared by many tests. It gives the Cluster a namespace of its own: every
// topic name, group ID and transactional ID a client sends is prefixed with
// the Cluster's prefix on its way to the brokers, and the prefix is removed
// from the answers, where names outside the namespace are left out. Tests
// therefore keep their fixed names ("in", "out", "job") and still never see
// one another's data. Broker addresses in answers are replaced by the
// proxy's own listeners (one per real broker), so that every connection of
// the client under test goes through the proxy, where DropConnections can
// cut it.
//
// Requests and answers are decoded and re-encoded with franz-go's kmsg; the
// names are found by field name (Topic, Group, TransactionalID, …) with a
// reflective walk, so that every message kind kmsg knows is covered. A
// message kmsg cannot decode is passed through unchanged.
type nsProxy struct {
	prefix     string
	autoCreate bool
	seeds      []string // the real brokers' addresses
	tracker    *connTracker

	mu        sync.Mutex
	listeners map[string]*proxyListener // real broker address -> listener
	order     []*proxyListener          // in creation order (node index)
	closed    bool
	wg        sync.WaitGroup
}

type proxyListener struct {
	ln     net.Listener
	target string
	addr   string
	host   string
	port   int32
}

func newNSProxy(prefix string, autoCreate bool, tracker *connTracker) *nsProxy {
	return &nsProxy{prefix: prefix, autoCreate: autoCreate, tracker: tracker, listeners: make(map[string]*proxyListener)}
}

// listen creates the listener standing for the real broker at target, on
// the loopback port given (0: chosen by the kernel). It returns the
// existing listener if there is one.
func (p *nsProxy) listen(target string, port int) (*proxyListener, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl, ok := p.listeners[target]; ok {
		return pl, nil
	}
	if p.closed {
		return nil, ErrClosed
	}
	ln, err := p.tracker.listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("kafkatest: proxy listener for %s: %w", target, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	pl := &proxyListener{ln: ln, target: target, addr: addr.String(), host: "127.0.0.1", port: int32(addr.Port)}
	p.listeners[target] = pl
	p.order = append(p.order, pl)
	p.wg.Add(1)
	go p.accept(pl)
	return pl, nil
}

// addrFor returns the proxy address standing for a broker's host:port.
func (p *nsProxy) addrFor(host string, port int32) (string, int32) {
	pl, err := p.listen(net.JoinHostPort(host, strconv.Itoa(int(port))), 0)
	if err != nil {
		return host, port
	}
	return pl.host, pl.port
}

func (p *nsProxy) close() {
	p.mu.Lock()
	p.closed = true
	ls := append([]*proxyListener(nil), p.order...)
	p.mu.Unlock()
	for _, pl := range ls {
		_ = pl.ln.Close()
	}
	p.tracker.drop(-1)
	p.wg.Wait()
}

func (p *nsProxy) accept(pl *proxyListener) {
	defer p.wg.Done()
	for {
		conn, err := pl.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(conn, pl.target)
		}()
	}
}

// pending is what the answer reader needs to know about a request.
type pending struct {
	key, version int16
	flexible     bool
	req          kmsg.Request // nil: pass the answer through
}

func (p *nsProxy) serve(client net.Conn, target string) {
	defer client.Close()
	upstream, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer upstream.Close()
	inflight := make(chan pending, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer client.Close()
		defer upstream.Close()
		p.answers(bufio.NewReader(upstream), client, inflight)
	}()
	p.requests(bufio.NewReader(client), upstream, inflight)
	_ = client.Close()
	_ = upstream.Close()
	<-done
}

func readFrame(r *bufio.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 1<<30 {
		return nil, fmt.Errorf("kafkatest: proxy: frame of %d bytes", n)
	}
	buf := make([]byte, n)
	_, err := io.ReadFull(r, buf)
	return buf, err
}

func writeFrame(w io.Writer, parts ...[]byte) error {
	n := 0
	for _, b := range parts {
		n += len(b)
	}
	out := make([]byte, 4, 4+n)
	binary.BigEndian.PutUint32(out, uint32(n))
	for _, b := range parts {
		out = append(out, b...)
	}
	_, err := w.Write(out)
	return err
}

// skipTags returns the length of the tagged-field section at the start of b.
func skipTags(b []byte) (int, error) {
	off := 0
	num, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, errors.New("bad tag count")
	}
	off += n
	for range num {
		_, n = binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, errors.New("bad tag")
		}
		off += n
		size, n := binary.Uvarint(b[off:])
		if n <= 0 || uint64(len(b)-off-n) < size {
			return 0, errors.New("bad tag size")
		}
		off += n + int(size)
	}
	return off, nil
}

func (p *nsProxy) requests(r *bufio.Reader, upstream net.Conn, inflight chan<- pending) {
	for {
		frame, err := readFrame(r)
		if err != nil || len(frame) < 10 {
			return
		}
		key := int16(binary.BigEndian.Uint16(frame[0:]))
		version := int16(binary.BigEndian.Uint16(frame[2:]))
		pd := pending{key: key, version: version}
		out := frame
		if req := kmsg.RequestForKey(key); req != nil && version <= req.MaxVersion() {
			req.SetVersion(version)
			pd.flexible = req.IsFlexible()
			if head, body, ok := splitRequest(frame, pd.flexible); ok && req.ReadFrom(body) == nil {
				p.rewriteRequest(req)
				if debugProxy {
					fmt.Fprintf(os.Stderr, "PROXY req key=%d v=%d %+v\n", key, version, req)
				}
				out = req.AppendTo(append([]byte(nil), head...))
				pd.req = req
			}
			if pr, ok := req.(*kmsg.ProduceRequest); ok && pr.Acks == 0 {
				if writeFrame(upstream, out) != nil {
					return
				}
				continue // no answer comes
			}
		}
		inflight <- pd
		if writeFrame(upstream, out) != nil {
			return
		}
	}
}

// splitRequest splits a request frame into its header (key, version,
// correlation ID, client ID and, for flexible versions, tags) and body.
func splitRequest(frame []byte, flexible bool) (head, body []byte, ok bool) {
	off := 8
	if len(frame) < off+2 {
		return nil, nil, false
	}
	cidLen := int16(binary.BigEndian.Uint16(frame[off:]))
	off += 2
	if cidLen > 0 {
		off += int(cidLen)
	}
	if off > len(frame) {
		return nil, nil, false
	}
	if flexible {
		n, err := skipTags(frame[off:])
		if err != nil {
			return nil, nil, false
		}
		off += n
	}
	return frame[:off], frame[off:], true
}

func (p *nsProxy) answers(r *bufio.Reader, client net.Conn, inflight <-chan pending) {
	for {
		frame, err := readFrame(r)
		if err != nil || len(frame) < 4 {
			return
		}
		pd := <-inflight
		out := frame
		if pd.req != nil {
			off := 4
			// ApiVersions answers always use the non-flexible header, so
			// that a client can read them before it knows any version.
			if pd.flexible && pd.key != 18 {
				if n, err := skipTags(frame[off:]); err == nil {
					off += n
				} else {
					off = -1
				}
			}
			if off > 0 {
				resp := pd.req.ResponseKind()
				resp.SetVersion(pd.version)
				if resp.ReadFrom(frame[off:]) == nil {
					p.rewriteResponse(resp)
					if debugProxy {
						fmt.Fprintf(os.Stderr, "PROXY resp key=%d v=%d %+v\n", pd.key, pd.version, resp)
					}
					out = resp.AppendTo(append([]byte(nil), frame[:off]...))
				}
			}
		}
		if writeFrame(client, out) != nil {
			return
		}
	}
}

// names

func (p *nsProxy) in(name string) string {
	if name == "" {
		return name
	}
	return p.prefix + name
}

// out strips the prefix; ok is false for a name of another namespace.
func (p *nsProxy) out(name string) (string, bool) {
	if name == "" {
		return name, true
	}
	if s, ok := strings.CutPrefix(name, p.prefix); ok {
		return s, true
	}
	return name, false
}

func (p *nsProxy) rewriteRequest(req kmsg.Request) {
	switch r := req.(type) {
	case *kmsg.MetadataRequest:
		// kfake creates a topic on a metadata request only when the
		// cluster was started with AutoCreateTopics; so does the proxy.
		r.AllowAutoTopicCreation = p.autoCreate && r.AllowAutoTopicCreation
	case *kmsg.FindCoordinatorRequest:
		r.CoordinatorKey = p.in(r.CoordinatorKey)
		for i := range r.CoordinatorKeys {
			r.CoordinatorKeys[i] = p.in(r.CoordinatorKeys[i])
		}
	}
	p.walk(reflect.ValueOf(req), true)
}

func (p *nsProxy) rewriteResponse(resp kmsg.Response) {
	switch r := resp.(type) {
	case *kmsg.ApiVersionsResponse:
		// Offer only what kmsg can decode, so that no message has to be
		// passed through blind.
		keep := r.ApiKeys[:0]
		for _, k := range r.ApiKeys {
			req := kmsg.RequestForKey(k.ApiKey)
			if req == nil {
				continue
			}
			if k.MaxVersion > req.MaxVersion() {
				k.MaxVersion = req.MaxVersion()
			}
			if k.MinVersion <= k.MaxVersion {
				keep = append(keep, k)
			}
		}
		r.ApiKeys = keep
		return
	case *kmsg.FindCoordinatorResponse:
		for i := range r.Coordinators {
			r.Coordinators[i].Key, _ = p.out(r.Coordinators[i].Key)
		}
	}
	p.walk(reflect.ValueOf(resp), false)
}

var (
	stringType    = reflect.TypeOf("")
	stringPtrType = reflect.TypeOf((*string)(nil))
	stringsType   = reflect.TypeOf([]string(nil))
)

// nameFields are the fields, in every kmsg message, that hold a topic name,
// a group ID or a transactional ID.
var nameFields = map[string]bool{
	"Topic": true, "TopicNames": true, "SubscribedTopicNames": true, "Topics": true,
	"Group": true, "Groups": true, "GroupID": true,
	"TransactionalID": true, "TransactionalIDs": true, "TransactionID": true, "GroupIDs": true, "SubscribedTopics": true,
}

// walk rewrites the names in v (a pointer, struct or slice): into the
// namespace for a request (toBroker), out of it for an answer, where
// elements naming another namespace are dropped from their lists. Broker
// addresses (structs with Host and Port) are replaced by the proxy's.
func (p *nsProxy) walk(v reflect.Value, toBroker bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			p.walk(v.Elem(), toBroker)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Struct {
			return
		}
		keep := 0
		for i := 0; i < v.Len(); i++ {
			e := v.Index(i)
			if !toBroker && !p.ours(e) {
				continue
			}
			p.walk(e, toBroker)
			if keep != i {
				v.Index(keep).Set(e)
			}
			keep++
		}
		v.SetLen(keep)
	case reflect.Struct:
		t := v.Type()
		if !toBroker {
			p.rewriteAddr(v)
		}
		resourceTopic := false
		if f := v.FieldByName("ResourceType"); f.IsValid() && f.CanInt() {
			// Config resource type 2 is a topic, 32 a group.
			resourceTopic = f.Int() == 2 || f.Int() == 32
		}
		for i := 0; i < t.NumField(); i++ {
			f := v.Field(i)
			name := t.Field(i).Name
			if !f.CanSet() {
				continue
			}
			isName := nameFields[name] || (name == "ResourceName" && resourceTopic)
			switch {
			case isName && f.Type() == stringType:
				f.SetString(p.mapName(f.String(), toBroker))
			case isName && f.Type() == stringPtrType:
				if !f.IsNil() {
					s := p.mapName(*f.Interface().(*string), toBroker)
					f.Set(reflect.ValueOf(&s))
				}
			case isName && f.Type() == stringsType:
				ss := f.Interface().([]string)
				if ss == nil {
					continue
				}
				out := make([]string, 0, len(ss))
				for _, s := range ss {
					if !toBroker {
						if _, ok := p.out(s); !ok {
							continue
						}
					}
					out = append(out, p.mapName(s, toBroker))
				}
				f.Set(reflect.ValueOf(out))
			case f.Kind() == reflect.Struct:
				p.walk(f, toBroker)
			case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
				p.walk(f, toBroker)
			case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct:
				p.walk(f, toBroker)
			}
		}
	}
}

func (p *nsProxy) mapName(s string, toBroker bool) string {
	if toBroker {
		return p.in(s)
	}
	s, _ = p.out(s)
	return s
}

// ours reports whether a list element of an answer belongs to the namespace:
// it does unless it names a topic, group or transactional ID without the
// prefix.
func (p *nsProxy) ours(e reflect.Value) bool {
	if e.Kind() != reflect.Struct {
		return true
	}
	for _, name := range []string{"Topic", "Group", "TransactionalID"} {
		f := e.FieldByName(name)
		if !f.IsValid() {
			continue
		}
		var s string
		switch f.Type() {
		case stringType:
			s = f.String()
		case stringPtrType:
			if f.IsNil() {
				continue
			}
			s = *f.Interface().(*string)
		default:
			continue
		}
		if _, ok := p.out(s); !ok {
			return false
		}
	}
	return true
}

func (p *nsProxy) rewriteAddr(v reflect.Value) {
	host, port := v.FieldByName("Host"), v.FieldByName("Port")
	if !host.IsValid() || !port.IsValid() || host.Type() != stringType || port.Kind() != reflect.Int32 || !host.CanSet() {
		return
	}
	if host.String() == "" {
		return
	}
	h, pt := p.addrFor(host.String(), int32(port.Int()))
	host.SetString(h)
	port.SetInt(int64(pt))
}

// debugProxy, set by KAFKATEST_PROXY_DEBUG=1, prints every decoded request
// and answer to stderr (run the test with -v to see it).
var debugProxy = os.Getenv("KAFKATEST_PROXY_DEBUG") != ""
