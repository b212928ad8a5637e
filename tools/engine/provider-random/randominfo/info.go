// Package randominfo maps Terraform's random provider onto Pulumi's "random" package: the tokens
// match those of the published pulumi-random SDKs (random_password becomes
// random:index/randomPassword:RandomPassword, and so on for every random_* resource). Attributes
// Terraform marks sensitive, such as random_password's result, become Pulumi secrets by the
// bridge's own rule.
package randominfo

import (
	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Version is the provider's version, set at link time by build.sh.
var Version = "0.0.0-dev"

// Provider describes the provider to the bridge. metadata is the bridge-metadata.json that the
// generator wrote (nil when the generator itself runs); upstreamDir, when set, is the Terraform
// provider's source folder, whose docs/ the generator reads for descriptions.
func Provider(metadata []byte, upstreamDir string) tfbridge.ProviderInfo {
	p := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(shim.NewProvider()),
		Name:         "random",
		Version:      Version,
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		Keywords:     []string{"pulumi", "random"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-random",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		// Docs come from the Terraform provider's module (github.com/terraform-providers/...).
		GitHubOrg:        "terraform-providers",
		UpstreamRepoPath: upstreamDir,
		Resources: map[string]*tfbridge.ResourceInfo{
			// random_bytes has no id attribute: use its base64 value, as pulumi-random does.
			"random_bytes": {
				ComputeID: tfbridge.DelegateIDField("base64", "random", "https://github.com/pulumi/pulumi-random"),
			},
		},
		// The same runtime behaviour switches as the published provider.
		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
	}
	// random_<name> -> random:index/random<Name>:Random<Name>
	p.MustComputeTokens(tokens.SingleModule("random_", "index", func(module, name string) (string, error) {
		return tokens.MakeStandard("random")(module, "Random"+name)
	}))
	return p
}
