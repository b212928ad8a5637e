"""The GitHub workflows' job logic, as a program the suites run (`python -m scripts.ci <command>`).

The workflow YAML (.github/workflows/preview.yml, deploy.yml) only checks out, sets up the
toolchain, names the credentials and calls one command per step; everything a job decides lives
here, in one module per step group:

  diff_comment.py   the offline manifest diff of a stack, as the PR comment and job summary
  preview.py        `pulumi preview` of a stack as the deploy would run it, as the PR comment
  deploy_dev.py     the deploy on main: dev at the commit's tag, its digests copied to prod's registry
  release.py        the release record a commit's dev deploy left, found and checked for a tag
  promote.py        prod: its secrets from the environment, the verified digests, `pulumi up`

and the pieces they share: github.py (the job's environment, outputs, summary, annotations),
comments.py (one PR comment per stack, posted then edited), stack.py (the Pulumi CLI on one stack,
through scripts/stack.sh for up/preview), registry.py (skopeo), credentials.py (state backend and
cluster credentials), build_cache.py (the build stages' cache images). The standard library and
PyYAML (the program's own dependency, in .venv); the two commands a job runs with the runner's
`python3` (manifest-diff, release-images) import the standard library only. `pulumi`, `gh`,
`skopeo`, `docker` and `make` run as subprocesses; no secret is put on a command line or printed.
"""
