/* SPDX-License-Identifier: MIT */
/*
 * cli — the subcommands of the ssring binary that do not run a relay:
 * they read a configuration or a link, print, and exit.
 */
#ifndef SSRING_CLI_H
#define SSRING_CLI_H

/* ssring genkey METHOD: a fresh random key of the method's size, base64. */
int cli_genkey(const char *method);
/*
 * ssring url -f FILE [--host HOST] [--qr]: one ss:// link per server (and
 * per user), optionally as a QR code; ssring url --config LINK [--listen
 * ADDR]: the locals entry that uses LINK. argv[0] is "url". Returns the
 * exit status.
 */
int cli_url(int argc, char **argv);

#endif
