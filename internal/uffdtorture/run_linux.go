package uffdtorture

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace/internal/uffdclient"
	"github.com/vmspace/vmspace/uffd"
)

// ErrNotPermitted is returned by Run where this process may not create a
// userfaultfd (vm.unprivileged_userfaultfd=0 without CAP_SYS_PTRACE, or
// no kernel support): the clients could not either.
var ErrNotPermitted = errors.New("userfaultfd not permitted")

// Run runs the torture (see the package doc) and reports what it counted.
// An error means it could not run; violations are in the report.
func Run(cfg Config) (*Report, error) {
	cfg.defaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	fd, _, err := uffd.Open(0, 0)
	if err != nil {
		fd, _, err = uffd.Open(uffd.UserModeOnly, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotPermitted, err)
	}
	unix.Close(fd)
	exe := cfg.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "vmspace-uffd-torture")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	imgPath := filepath.Join(dir, "image")
	f, err := os.Create(imgPath)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = uffdclient.WriteImage(bw, cfg.Clients*cfg.Pages)
	if err == nil {
		err = bw.Flush()
	}
	f.Close()
	if err != nil {
		return nil, err
	}
	lw := &lineWriter{w: cfg.Log}
	sock := filepath.Join(dir, "sock")
	var anomalies atomic.Uint64
	srv, err := newServer(sock, imgPath, &cfg, func(format string, args ...any) {
		// The handlers' own lines (uffd.Config.Logf): the first few,
		// then only counted.
		if strings.HasPrefix(format, handlerLogPrefix) {
			n := anomalies.Add(1)
			// The handler's re-protection of a whole area that reaches a
			// hole the client has just made (munmap, mremap) is logged
			// ENOMEM: known, counted, not printed past the first.
			if strings.Contains(format, "protect [") && len(args) > 0 && fmt.Sprint(args[len(args)-1]) == unix.ENOMEM.Error() && n > 1 || n > 50 {
				return
			}
		}
		lw.printf(format+"\n", args...)
	})
	if err != nil {
		return nil, err
	}
	go srv.serve()

	rep := &Report{Clients: cfg.Clients, Threads: cfg.Threads, Pages: cfg.Pages, Seed: cfg.Seed}
	var mu sync.Mutex // rep
	var wg sync.WaitGroup
	for k := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			end := time.Now().Add(cfg.Duration)
			for gen := 0; ; gen++ {
				d := min(cfg.Generation, time.Until(end))
				if d <= 0 && gen > 0 {
					return
				}
				res, err := runClient(&cfg, exe, sock, k, gen, max(d, time.Millisecond), lw)
				mu.Lock()
				rep.Generations++
				if res != nil {
					rep.ClientResult.add(res)
				}
				if err != nil {
					rep.Failures = append(rep.Failures, fmt.Sprintf("client %d generation %d: %v", k, gen, err))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	srv.waitGone(rep.Generations, 10*time.Second)
	srv.close()
	rep.Server = srv.stats()
	rep.HandlerLogs = anomalies.Load()
	return rep, nil
}

// runClient starts generation gen of client k for dur and waits for its result, killing it if it
// runs far past its time.
func runClient(cfg *Config, exe, sock string, k, gen int, dur time.Duration, lw *lineWriter) (*ClientResult, error) {
	spec, _ := json.Marshal(clientSpec{ID: k, Pages: cfg.Pages, Threads: cfg.Threads, Duration: dur,
		Stall: cfg.Stall, Seed: cfg.Seed + uint64(gen)<<32, Socket: sock})
	cmd := exec.Command(exe, cfg.Args...)
	cmd.Env = append(os.Environ(), EnvClient+"="+string(spec))
	cmd.Stderr = prefixWriter{lw, fmt.Sprintf("client %d stderr: ", k)}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	limit := dur + 2*cfg.Stall + 30*time.Second
	killed := false
	var kmu sync.Mutex
	timer := time.AfterFunc(limit, func() {
		kmu.Lock()
		killed = true
		kmu.Unlock()
		cmd.Process.Kill()
	})
	defer timer.Stop()
	var res *ClientResult
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, resultPrefix); ok {
			var r ClientResult
			if err := json.Unmarshal([]byte(rest), &r); err == nil {
				res = &r
			}
			continue
		}
		lw.printf("%s\n", line)
	}
	werr := cmd.Wait()
	kmu.Lock()
	defer kmu.Unlock()
	switch {
	case killed:
		return res, fmt.Errorf("no result after %v: killed (a hang the client's watchdog did not see)", limit)
	case res == nil:
		return nil, fmt.Errorf("no result: %v", werr)
	case werr != nil && res.Stuck == 0:
		return res, fmt.Errorf("exited: %v", werr)
	}
	return res, nil
}

// lineWriter serializes whole lines to w.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

// prefixWriter writes each chunk it gets to a lineWriter behind a prefix.
type prefixWriter struct {
	l      *lineWriter
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	p.l.printf("%s%s", p.prefix, b)
	return len(b), nil
}
