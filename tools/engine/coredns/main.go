// Command coredns is CoreDNS with only the plugins the local node's cluster DNS needs:
// kubernetes (cluster names), cache, errors, health, ready and log. There is deliberately no
// forward plugin: a name outside the cluster zones gets REFUSED instead of leaving the machine.
//
// Upstream selects plugins at generate time (plugin.cfg -> core/plugin/zplugin.go, the imports,
// and core/dnsserver/zdirectives.go, the execution order). This file does the same by hand: the
// imports below register the plugins, and directives keeps them in the relative order of
// v1.15.0's zdirectives.go (a plugin sees the effects of every plugin after it).
package main

import (
	"fmt"
	"os"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// directives, in upstream's order (zdirectives.go v1.15.0: ready, health, errors, log, cache,
// kubernetes). Keep build.sh's plugin check in step when this changes.
var directives = []string{
	"ready",
	"health",
	"errors",
	"log",
	"cache",
	"kubernetes",
}

func init() {
	if err := dnsserver.SetDirectives(directives); err != nil {
		fmt.Fprintln(os.Stderr, "coredns:", err)
		os.Exit(1)
	}
}

func main() {
	coremain.Run()
}
