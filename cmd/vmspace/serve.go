package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmspace/vmspace/internal/uffdserve"
)

func init() {
	register("serve", "serve the page faults of other processes from a memory image (userfaultfd, Firecracker's handshake)", runServe)
}

// runServe listens on --socket and serves every client that connects
// (package internal/uffdserve) until SIGINT or SIGTERM, then shuts down
// cleanly: every client dropped, every goroutine ended.
func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	sock := fs.String("socket", "", "UNIX socket `PATH` to listen on")
	image := fs.String("image", "", "memory image `FILE`: a region's bytes are at its offset in it")
	workers := fs.Int("workers", 1, "fault-serving goroutines per client")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *sock == "" || *image == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: vmspace serve --socket PATH --image FILE [--workers N]")
	}
	lg := log.New(os.Stderr, "vmspace serve: ", log.LstdFlags)
	s, err := uffdserve.New(uffdserve.Config{Socket: *sock, Image: *image, Workers: *workers, Logf: lg.Printf})
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	lg.Printf("listening on %s, image %s", *sock, *image)
	select {
	case got := <-sig:
		lg.Printf("%v: shutting down", got)
		s.Close()
		err = <-done
	case err = <-done:
		s.Close()
	}
	os.Remove(*sock)
	return err
}
