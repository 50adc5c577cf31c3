#!/usr/bin/env node
/** `exp`, installed with the genlab package: the CLI of @genlab/cli. */
import '@genlab/cli/bin';
