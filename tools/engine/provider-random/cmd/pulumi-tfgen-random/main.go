// Command pulumi-tfgen-random is the build-time schema generator: build.sh runs
// `pulumi-tfgen-random schema --out DIR` to write schema.json and bridge-metadata.json, with
// MBH_RANDOM_UPSTREAM_DIR naming the Terraform provider's module folder (for its docs).
package main

import (
	"os"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"mbhealth.local/tools/engine/provider-random/randominfo"
)

func main() { tfgen.Main("random", randominfo.Provider(nil, os.Getenv("MBH_RANDOM_UPSTREAM_DIR"))) }
