// pulumi-language-python: the Python language host, our own.
//
// The Pulumi engine talks to a language host over gRPC (pulumirpc.LanguageRuntime) to run a
// program and to learn which provider plugins it needs. Pulumi's own Python host lives in a nested
// Go module that the module proxy does not serve, so this small host implements the parts of the
// protocol that `pulumi preview|up|destroy|refresh`, `--policy-pack` and `pulumi about` use:
//
//   - Run: starts `<python> -u pulumi-language-python-exec --monitor … PROGRAM` (the exec script
//     ships in the published sdk/v3 module and is installed beside this binary by build.sh), with
//     the stack config in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS exactly as the Python SDK reads it.
//   - RunPlugin: starts a Python plugin (a CrossGuard policy pack) and streams its output back.
//   - GetRequiredPackages: the resource plugins declared by installed packages' pulumi-plugin.json.
//   - GetProgramDependencies, About, InstallDependencies (venv + pip install -r requirements.txt).
//
// The interpreter is `<virtualenv>/bin/python` when the project's runtime options name a
// virtualenv (relative to the project root), else $PULUMI_PYTHON_CMD, else python3 on PATH.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set at build time (-X main.version=…) to the Pulumi version it was built against.
var version = "0.0.0-dev"

// The exit code with which the exec script says it already showed the user an actionable error.
const exitAfterUserMessage = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string

	mu      sync.Mutex
	running map[*exec.Cmd]struct{}
}

func main() {
	args := os.Args[1:]
	// The engine passes its own address as the last positional argument; flags (-root=…,
	// -tracing=…, options as -key=value) may precede it and are not needed here.
	engine := ""
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			engine = a
		}
	}
	h := &host{engineAddress: engine, running: map[*exec.Cmd]struct{}{}}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(s, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: could not start the gRPC server: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
}

// python returns the interpreter for a program and the environment that activates its virtualenv.
func python(info *pulumirpc.ProgramInfo) (string, []string, error) {
	env := os.Environ()
	venv := ""
	if info != nil && info.Options != nil {
		if v, ok := info.Options.AsMap()["virtualenv"].(string); ok && v != "" {
			venv = v
			if !filepath.IsAbs(venv) {
				venv = filepath.Join(info.RootDirectory, venv)
			}
		}
	}
	if venv != "" {
		bin := filepath.Join(venv, "bin", "python")
		if _, err := os.Stat(bin); err != nil {
			return "", nil, fmt.Errorf("the virtualenv %s named by the project's runtime options has no bin/python: "+
				"create it first (make venv)", venv)
		}
		env = append(withoutKeys(env, "PYTHONHOME", "VIRTUAL_ENV", "PATH"),
			"VIRTUAL_ENV="+venv,
			"PATH="+filepath.Join(venv, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
		return bin, env, nil
	}
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		return cmd, env, nil
	}
	bin, err := exec.LookPath("python3")
	if err != nil {
		return "", nil, errors.New("no python3 on PATH and no virtualenv in the project's runtime options")
	}
	return bin, env, nil
}

func withoutKeys(env []string, keys ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		drop := false
		for _, k := range keys {
			if strings.HasPrefix(kv, k+"=") {
				drop = true
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// execScript finds pulumi-language-python-exec beside this binary, else on PATH.
func execScript() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("pulumi-language-python-exec")
	if err != nil {
		return "", errors.New("pulumi-language-python-exec is neither beside pulumi-language-python nor on PATH")
	}
	return p, nil
}

func (h *host) track(cmd *exec.Cmd, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if on {
		h.running[cmd] = struct{}{}
	} else {
		delete(h.running, cmd)
	}
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// Run executes the program and maps the exec script's exit code onto the engine's result.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	py, env, err := python(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	script, err := execScript()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	config := req.GetConfig()
	if config == nil {
		config = map[string]string{} // the SDK reads PULUMI_CONFIG as an object, never null
	}
	cfg, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	keys, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	args := []string{"-u", script,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
	}
	if req.GetOrganization() != "" {
		args = append(args, "--organization", req.GetOrganization())
	}
	if root := req.GetInfo().GetRootDirectory(); root != "" {
		args = append(args, "--root_directory", root)
	}
	program := req.GetProgram()
	if program == "" {
		program = "."
	}
	args = append(append(args, program), req.GetArgs()...)

	cmd := exec.Command(py, args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = append(env, "PULUMI_CONFIG="+string(cfg), "PULUMI_CONFIG_SECRET_KEYS="+string(keys))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not start %s: %v", py, err)}, nil
	}
	h.track(cmd, true)
	defer h.track(cmd, false)
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Signal(syscall.SIGINT) })
	defer stop()
	err = cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == exitAfterUserMessage:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program stopped: %v", err)}, nil
	}
}

// Cancel interrupts running programs and plugins.
func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for cmd := range h.running {
		_ = cmd.Process.Signal(syscall.SIGINT)
	}
	return &emptypb.Empty{}, nil
}

// lineWriter sends each write of a child's stream to the engine as one RunPlugin message.
type lineWriter struct {
	mu     *sync.Mutex
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]
	stderr bool
}

func (w lineWriter) Write(p []byte) (int, error) {
	data := append([]byte(nil), p...)
	msg := &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: data}}
	if w.stderr {
		msg = &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: data}}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.server.Send(msg); err != nil {
		return 0, err
	}
	return len(p), nil
}

// RunPlugin runs a plugin written in Python (the engine uses it for CrossGuard policy packs).
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]) error {
	py, env, err := python(req.GetInfo())
	if err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	program := req.GetInfo().GetProgramDirectory()
	if program == "" {
		program = req.GetProgram()
	}
	cmd := exec.Command(py, append([]string{"-u", program}, req.GetArgs()...)...)
	cmd.Dir = req.GetPwd()
	cmd.Env = append(env, req.GetEnv()...)
	var mu sync.Mutex
	cmd.Stdout = lineWriter{mu: &mu, server: server}
	cmd.Stderr = lineWriter{mu: &mu, server: server, stderr: true}
	if err := cmd.Start(); err != nil {
		return status.Errorf(codes.Internal, "could not start %s: %v", py, err)
	}
	h.track(cmd, true)
	defer h.track(cmd, false)
	stop := context.AfterFunc(server.Context(), func() { _ = cmd.Process.Kill() })
	defer stop()
	code := int32(0)
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return status.Errorf(codes.Internal, "%s: %v", py, err)
		}
		code = int32(exitErr.ExitCode())
	}
	mu.Lock()
	defer mu.Unlock()
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

// The distributions installed in the program's interpreter, and the resource plugins they declare.
const listPackages = `
import importlib.metadata as md, json, re
dists, plugins, seen = [], [], set()
for d in md.distributions():
    name = d.metadata["Name"] or ""
    dists.append({"name": name, "version": d.version})
    for f in d.files or []:
        if f.name != "pulumi-plugin.json":
            continue
        try:
            meta = json.loads(f.read_text())
        except Exception:
            continue
        if not meta.get("resource"):
            continue
        plugin = meta.get("name") or re.sub(r"^pulumi[-_]", "", name).replace("_", "-")
        key = (plugin, meta.get("version") or d.version)
        if key in seen:
            continue
        seen.add(key)
        plugins.append({"name": plugin, "version": key[1], "server": meta.get("server", ""),
                        "parameterization": meta.get("parameterization")})
print(json.dumps({"dists": dists, "plugins": plugins}))
`

type packages struct {
	Dists []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"dists"`
	Plugins []struct {
		Name             string          `json:"name"`
		Version          string          `json:"version"`
		Server           string          `json:"server"`
		Parameterization json.RawMessage `json:"parameterization"`
	} `json:"plugins"`
}

func inspect(ctx context.Context, info *pulumirpc.ProgramInfo) (*packages, error) {
	py, env, err := python(info)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, py, "-c", listPackages)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the packages of %s: %v: %s", py, err, strings.TrimSpace(stderr.String()))
	}
	var pkgs packages
	if err := json.Unmarshal(out, &pkgs); err != nil {
		return nil, fmt.Errorf("listing the packages of %s: %v", py, err)
	}
	return &pkgs, nil
}

func (h *host) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	pkgs, err := inspect(ctx, req.GetInfo())
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, p := range pkgs.Plugins {
		if len(p.Parameterization) > 0 && string(p.Parameterization) != "null" {
			return nil, status.Errorf(codes.Unimplemented, "parameterized package %s is not supported by this host", p.Name)
		}
		resp.Packages = append(resp.Packages, &pulumirpc.PackageDependency{
			Kind: "resource", Name: p.Name, Version: p.Version, Server: p.Server,
		})
	}
	return resp, nil
}

func (h *host) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	got, err := h.GetRequiredPackages(ctx, &pulumirpc.GetRequiredPackagesRequest{Info: req.GetInfo()})
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, p := range got.GetPackages() {
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{
			Name: p.Name, Kind: p.Kind, Version: p.Version, Server: p.Server,
		})
	}
	return resp, nil
}

func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	pkgs, err := inspect(ctx, req.GetInfo())
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, d := range pkgs.Dists {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version})
	}
	return resp, nil
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	py, env, err := python(req.GetInfo())
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	cmd := exec.CommandContext(ctx, py, "-c", "import platform; print(platform.python_version())")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%s: %v", py, err)
	}
	return &pulumirpc.AboutResponse{Executable: py, Version: strings.TrimSpace(string(out))}, nil
}

// InstallDependencies creates the project's virtualenv when missing and installs requirements.txt.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest, server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]) error {
	info := req.GetInfo()
	dir := req.GetDirectory()
	if info != nil && info.ProgramDirectory != "" {
		dir = info.ProgramDirectory
	}
	send := func(stderr bool) io.Writer {
		return writerFunc(func(p []byte) (int, error) {
			data := append([]byte(nil), p...)
			msg := &pulumirpc.InstallDependenciesResponse{Stdout: data}
			if stderr {
				msg = &pulumirpc.InstallDependenciesResponse{Stderr: data}
			}
			return len(p), server.Send(msg)
		})
	}
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(server.Context(), name, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = send(false), send(true)
		return cmd.Run()
	}
	if _, _, err := python(info); err != nil && info != nil && info.Options != nil {
		venv, _ := info.Options.AsMap()["virtualenv"].(string)
		if venv == "" {
			return status.Error(codes.FailedPrecondition, err.Error())
		}
		if !filepath.IsAbs(venv) {
			venv = filepath.Join(info.RootDirectory, venv)
		}
		base, lerr := exec.LookPath("python3")
		if lerr != nil {
			return status.Error(codes.FailedPrecondition, "python3 is not on PATH")
		}
		if err := run(base, "-m", "venv", venv); err != nil {
			return status.Errorf(codes.Internal, "python3 -m venv %s: %v", venv, err)
		}
	}
	py, _, err := python(info)
	if err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	if _, err := os.Stat(filepath.Join(dir, "requirements.txt")); err != nil {
		return nil
	}
	if err := run(py, "-m", "pip", "install", "-r", "requirements.txt"); err != nil {
		return status.Errorf(codes.Internal, "pip install -r requirements.txt: %v", err)
	}
	return nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
