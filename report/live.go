package report

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Live keeps one status line at the bottom of a terminal while a fleet
// runs: hosts done, running and total, and the slowest running host. Human
// clears it before each event and draws it again after, so output never
// mixes with it.
type Live struct {
	W     io.Writer
	Total int

	mu      sync.Mutex
	done    int
	running map[string]time.Time
	shown   bool
	stop    chan struct{}
}

// Start marks a host as running.
func (l *Live) Start(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running == nil {
		l.running = map[string]time.Time{}
	}
	l.running[host] = time.Now()
	l.redraw()
}

// Done marks a host as finished.
func (l *Live) Done(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.running, host)
	l.done++
	l.redraw()
}

// Run redraws the line every interval until Close.
func (l *Live) Run(interval time.Duration) {
	l.mu.Lock()
	l.stop = make(chan struct{})
	stop := l.stop
	l.mu.Unlock()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				l.mu.Lock()
				l.redraw()
				l.mu.Unlock()
			}
		}
	}()
}

// Close stops redrawing and clears the line.
func (l *Live) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		close(l.stop)
		l.stop = nil
	}
	l.clear()
}

// around runs write with the status line cleared, then draws it again.
func (l *Live) around(write func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
	write()
	l.redraw()
}

func (l *Live) clear() {
	if l.shown {
		io.WriteString(l.W, "\r\x1b[K")
		l.shown = false
	}
}

func (l *Live) redraw() {
	if l.stop == nil {
		return
	}
	l.clear()
	line := fmt.Sprintf("hosts: %d done, %d running, %d total", l.done, len(l.running), l.Total)
	if len(l.running) > 0 {
		hosts := make([]string, 0, len(l.running))
		for h := range l.running {
			hosts = append(hosts, h)
		}
		sort.Slice(hosts, func(i, j int) bool { return l.running[hosts[i]].Before(l.running[hosts[j]]) })
		line += fmt.Sprintf("; slowest: %s (%s)", hosts[0], time.Since(l.running[hosts[0]]).Round(100*time.Millisecond))
	}
	io.WriteString(l.W, line)
	l.shown = true
}
