// Command vmspace drives the vmspace library: a demo of per-area locking,
// a page-fault server for other processes (userfaultfd), replay of oracle
// scripts against vmspace or the real kernel, benchmarks and torture runs.
//
//	vmspace demo                 fault from several goroutines while another changes the layout
//	vmspace demo --uffd          lazy restore of a memory image into a client process through userfaultfd
//	vmspace serve --socket PATH --image FILE   serve other processes' page faults (Firecracker's handshake)
//	vmspace replay [--kernel]    run an oracle script from standard input
//	vmspace bench [flags]        page faults under layout churn, engines side by side
//	vmspace torture [flags]      random concurrent operations with invariant checks
//	vmspace torture --uffd       real faults of several client processes, drops racing them, injected EAGAIN
//	vmspace shadow -- CMD ...    run CMD under ptrace, mirroring its layout calls into vmspace
package main

import (
	"fmt"
	"os"
	"sort"
)

// command is one subcommand. Each lives in its own file and registers
// itself in init.
type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) error) {
	commands[name] = command{summary, run}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: vmspace <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
}

func main() {
	if clientMain() { // a client process of demo --uffd or bench's uffd engines
		return
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		usage()
		os.Exit(2)
	}
	if err := c.run(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "vmspace "+os.Args[1]+":", err)
		os.Exit(1)
	}
}
