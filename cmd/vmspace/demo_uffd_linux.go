package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmspace/vmspace/internal/uffdclient"
	"github.com/vmspace/vmspace/internal/uffdserve"
)

// clientMain runs this process as a uffd client when the environment asks
// for it, and reports whether it did.
func clientMain() bool {
	spec := os.Getenv(uffdclient.EnvDemo)
	if spec == "" {
		return benchClientMain()
	}
	if err := uffdclient.DemoMain(spec, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "uffd demo client:", err)
		os.Exit(1)
	}
	return true
}

// runUffdDemo is `vmspace demo --uffd`: a server in this process (as
// `vmspace serve` runs it) restores a memory image lazily into a client
// process (uffdclient.DemoMain) while the client's balloon drops ranges
// and its hot-plug unmaps and maps chunks. The client checks every page it
// reads; the last line sums up, and the exit status is 0 only if no page
// was lost or stale. balloon (uffdclient.Balloon*) says whether the
// balloon's drops are the client's own MADV_DONTNEED or made by the
// server's space and applied to the client through its memory channel.
func runUffdDemo(dur time.Duration, sizeMiB, clients int, balloon string) error {
	switch balloon {
	case uffdclient.BalloonClient, uffdclient.BalloonSpace, uffdclient.BalloonBoth:
	default:
		return fmt.Errorf("--balloon %q: want client, space or both", balloon)
	}
	dir, err := os.MkdirTemp("", "vmspace-uffd-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pages := sizeMiB << 20 / uffdclient.PageSize
	imgPath := filepath.Join(dir, "image")
	f, err := os.Create(imgPath)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := uffdclient.WriteImage(bw, pages); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	f.Close()
	fmt.Printf("uffd demo: %d MiB image, %d client process(es) restore it lazily for %v while their balloons drop ranges (dropped by: %s) and hot-plug unmaps and maps 2 MiB chunks\n", sizeMiB, clients, dur, balloon)
	sock := filepath.Join(dir, "sock")
	gone := make(chan string, clients)
	srv, err := uffdserve.New(uffdserve.Config{Socket: sock, Image: imgPath, Workers: 2, Logf: func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		fmt.Println("server:", line)
		if strings.Contains(line, " gone ") {
			gone <- line
		}
	}})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	type result struct {
		checked, bad int64
		err          error
	}
	results := make(chan result, clients)
	for k := range clients {
		go func() {
			var r result
			r.bad = -1
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%v,%d,%s", uffdclient.EnvDemo, pages, dur, k+1, balloon), uffdclient.EnvSocket+"="+sock)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err == nil {
				err = cmd.Start()
			}
			if err != nil {
				r.err = err
				results <- r
				return
			}
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				line := sc.Text()
				if _, err := fmt.Sscanf(line, "checked %d bad %d", &r.checked, &r.bad); err == nil {
					continue
				}
				fmt.Println(line)
			}
			r.err = cmd.Wait()
			results <- r
		}()
	}
	var checked, bad int64
	var cerr error
	for range clients {
		r := <-results
		checked += r.checked
		if r.err != nil || r.bad < 0 {
			cerr = fmt.Errorf("a client failed: %v", r.err)
		}
		bad += max(r.bad, 0)
		select {
		case <-gone:
		case <-time.After(10 * time.Second):
		}
	}
	srv.Close()
	if err := <-done; err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	fmt.Printf("uffd demo: %d pages checked, %d lost or stale\n", checked, bad)
	if bad != 0 {
		os.Exit(1)
	}
	return nil
}
