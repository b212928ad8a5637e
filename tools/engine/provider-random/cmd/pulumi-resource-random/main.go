// Command pulumi-resource-random serves the random provider. schema.json and bridge-metadata.json
// are written beside this file by the generator at build time (see ../../build.sh).
package main

import (
	"context"
	_ "embed"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"mbhealth.local/tools/engine/provider-random/randominfo"
)

//go:embed schema.json
var schemaJSON []byte

//go:embed bridge-metadata.json
var bridgeMetadata []byte

func main() {
	pf.Main(context.Background(), "random", randominfo.Provider(bridgeMetadata, ""),
		pf.ProviderMetadata{PackageSchema: schemaJSON})
}
