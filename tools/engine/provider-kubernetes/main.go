// Command pulumi-resource-kubernetes serves the Kubernetes provider. The module zip of
// provider/v4 leaves out the generated, version-stamped schema that upstream's command embeds, so
// build.sh writes schema-embed.json and terraform-mapping-embed.json beside this file from the
// module's committed schema.json and terraform-mapping.json before `go build`.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var schemaJSON []byte

//go:embed terraform-mapping-embed.json
var terraformMappingJSON []byte

func main() {
	// version.Version is set with -ldflags -X by build.sh.
	provider.Serve("kubernetes", version.Version, schemaJSON, terraformMappingJSON)
}
