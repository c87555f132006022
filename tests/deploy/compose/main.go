// Command compose loads a Compose file the way `docker compose config` does (compose-go: the Compose
// spec's JSON schema, variable interpolation, an env file, profiles) and prints the normalized project as
// JSON. Any error is printed as the loader words it, and the exit status is 1.
//
// Only the env file's variables are interpolated, not this process's environment, so that what it loads does
// not depend on the shell it runs in. Without -env-file, a .env beside the compose file is read, as
// `docker compose` does.
//
//	compose -file docker-compose.yml -env-file .env.example -profile gpu
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	file := flag.String("file", "docker-compose.yml", "the Compose file")
	envFile := flag.String("env-file", "", "an env file whose variables are interpolated (as --env-file)")
	profiles := flag.String("profile", "", "profiles to enable, comma-separated")
	flag.Parse()
	if err := run(*file, *envFile, *profiles); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(file, envFile, profiles string) error {
	path, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	var enabled []string
	for _, profile := range strings.Split(profiles, ",") {
		if profile = strings.TrimSpace(profile); profile != "" {
			enabled = append(enabled, profile)
		}
	}
	options := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(dir),
		cli.WithProfiles(enabled),
		cli.WithName("mmindex"),
	}
	if envFile != "" {
		options = append(options, cli.WithEnvFiles(envFile))
	} else {
		options = append(options, cli.WithEnvFiles())
	}
	options = append(options, cli.WithDotEnv)
	o, err := cli.NewProjectOptions([]string{path}, options...)
	if err != nil {
		return err
	}
	p, err := o.LoadProject(context.Background())
	if err != nil {
		return err
	}
	data, err := p.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(data, '\n'))
	return err
}
