package transport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Bounds on what the controller reads from a host, so that a broken or
// hostile host cannot make it use unbounded memory.
const (
	// MaxEventLine is the longest JSON event line accepted from an agent
	// (events carry whole file contents for diffs).
	MaxEventLine = 64 << 20
	// MaxExecOutput is the most output Exec keeps.
	MaxExecOutput = 64 << 20
	// maxHandshakeLine bounds the bootstrap's lines.
	maxHandshakeLine = 4 << 10
)

var errLineTooLong = errors.New("line too long")

// readLine reads one line of at most max bytes (the newline included) from
// r; a longer line is errLineTooLong, and at the end of the input the
// partial line comes with io.EOF.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

var errBadPassword = errors.New("sudo did not accept the become password")

// firstLine reads the bootstrap's first line. With a become password it
// waits at the same time for sudo's prompt (the session's random marker)
// on stderr, and writes the password only then, once: a host where sudo
// needs no password never receives it, and a second prompt means the
// password was wrong.
func (se *session) firstLine() (string, error) {
	if se.stderr.prompts == nil {
		line, err := readLine(se.out, maxHandshakeLine)
		if err != nil {
			return "", errHandshake
		}
		return string(line), nil
	}
	type result struct {
		line []byte
		err  error
	}
	lines := make(chan result, 1)
	go func() {
		line, err := readLine(se.out, maxHandshakeLine)
		lines <- result{line, err}
	}()
	sent := false
	for {
		select {
		case r := <-lines:
			if r.err != nil {
				return "", errHandshake
			}
			return string(r.line), nil
		case <-se.stderr.prompts:
			if sent {
				return "", fmt.Errorf("%s: %w for %s", se.t.Name, errBadPassword, userOr(se.t.User))
			}
			if _, err := io.WriteString(se.stdin, se.t.BecomePassword+"\n"); err != nil {
				return "", err
			}
			sent = true
		}
	}
}

// promptWatcher is ssh's stderr: it keeps the last 16 KiB (tailBuffer)
// and signals prompts each time the marker goes by.
type promptWatcher struct {
	tailBuffer
	marker  string
	prompts chan struct{}

	mu      sync.Mutex
	pending string // the end of stderr that may start a marker
}

func (p *promptWatcher) Write(b []byte) (int, error) {
	p.tailBuffer.Write(b)
	if p.prompts == nil {
		return len(b), nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending += string(b)
	for {
		i := strings.Index(p.pending, p.marker)
		if i < 0 {
			break
		}
		p.pending = p.pending[i+len(p.marker):]
		select {
		case p.prompts <- struct{}{}:
		default:
		}
	}
	if keep := len(p.marker) - 1; len(p.pending) > keep {
		p.pending = p.pending[len(p.pending)-keep:]
	}
	return len(b), nil
}

// clean removes the prompt marker from stderr text shown to users.
func (p *promptWatcher) clean(s string) string {
	if p.marker == "" {
		return s
	}
	return strings.ReplaceAll(s, p.marker, "")
}
