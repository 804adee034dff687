#!/usr/bin/env bash
# Installs the backing services that `helpdesk dev`, `make test` and CI start
# locally as private child processes (see internal/devstack/localsvc): PostgreSQL and
# Dovecot (IMAP + LMTP) from Debian, Elasticsearch's integ-test-zip from Maven
# Central, the tools they need, and the unprivileged system users
# Elasticsearch and Dovecot run as.
#
# Idempotent: a second run installs nothing and returns in well under a second.
# Runs as root on a fresh Debian machine. See deploy/local/README.md.
set -euo pipefail

# Newest 8.x integ-test-zip Maven Central serves (checked when this was written).
# Keep in step with localsvc.ESVersion in internal/devstack/localsvc.
ES_VERSION="${ES_VERSION:-8.19.21}"
ES_ARTIFACT="org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip"
HELPDESK_ES_HOME="${HELPDESK_ES_HOME:-/opt/helpdesk/elasticsearch-${ES_VERSION}}"
HELPDESK_ES_USER="${HELPDESK_ES_USER:-helpdesk-es}"
# Runs the private Dovecot (rootless) and owns its mail; keep in step with
# localsvc.DovecotOSUser.
HELPDESK_MAIL_USER="${HELPDESK_MAIL_USER:-helpdesk-mail}"
# Upper bound for the Maven download (seconds); it is about 100 MB.
HELPDESK_MVN_TIMEOUT="${HELPDESK_MVN_TIMEOUT:-600}"

log() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs Debian packages and creates a system user)"

# --- Debian packages --------------------------------------------------------
missing=()
pkg_missing() { ! dpkg -s "$1" >/dev/null 2>&1; }
pkg_missing postgresql && missing+=(postgresql)
pkg_missing acl && missing+=(acl)
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
pkg_missing dovecot-imapd && missing+=(dovecot-imapd)
pkg_missing dovecot-lmtpd && missing+=(dovecot-lmtpd)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # localsvc runs its own Dovecot; the package's system service is not used.
  # Keep the package from starting it during the install (unless the machine
  # already has a policy, as Docker images do).
  policy_rc=/usr/sbin/policy-rc.d
  if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\n# temporary, from helpdesk deploy/local/install.sh\n[ "$1" = dovecot ] && exit 101\nexit 0\n' >"$policy_rc"
    chmod 755 "$policy_rc"
    trap 'rm -f "$policy_rc"' EXIT
  fi
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ -e "$policy_rc" ] && grep -q 'helpdesk deploy/local/install.sh' "$policy_rc"; then
    rm -f "$policy_rc"
    trap - EXIT
  fi
  case " ${missing[*]} " in
  *" dovecot-"*)
    # Nor start it at boot. (A system Dovecot would not get in the way:
    # localsvc uses its own config, ports and runtime directories.)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/dovecot ] && command -v update-rc.d >/dev/null 2>&1; then
      update-rc.d dovecot disable >/dev/null 2>&1 || true
    fi
    ;;
  esac
fi

pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
[ -n "$pg_bin" ] && [ -x "$pg_bin/postgres" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
id -u postgres >/dev/null 2>&1 || die "the postgres user should come with the postgresql package but is missing"

# A JDK Elasticsearch $ES_VERSION supports; 17 is what Debian 12 ships.
es_java_home="${ES_JAVA_HOME:-}"
if [ -z "$es_java_home" ]; then
  for candidate in /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/java-21-openjdk-*; do
    if [ -x "$candidate/bin/java" ]; then es_java_home="$candidate"; break; fi
  done
fi
if [ -z "$es_java_home" ]; then
  es_java_home="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
fi

# --- Elasticsearch user -----------------------------------------------------
if ! id -u "$HELPDESK_ES_USER" >/dev/null 2>&1; then
  log "creating system user $HELPDESK_ES_USER"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "helpdesk local Elasticsearch" "$HELPDESK_ES_USER"
fi

# --- Dovecot ------------------------------------------------------------------
[ -x /usr/sbin/dovecot ] || die "/usr/sbin/dovecot not found although dovecot-imapd is installed"
[ -x /usr/lib/dovecot/lmtp ] || die "/usr/lib/dovecot/lmtp not found although dovecot-lmtpd is installed"
if ! id -u "$HELPDESK_MAIL_USER" >/dev/null 2>&1; then
  log "creating system user $HELPDESK_MAIL_USER"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "helpdesk local Dovecot and its mail" "$HELPDESK_MAIL_USER"
fi

# --- Elasticsearch distribution ----------------------------------------------
marker="$HELPDESK_ES_HOME/.helpdesk-installed"
if [ ! -f "$marker" ]; then
  log "fetching $ES_ARTIFACT with Maven"
  parent="$(dirname "$HELPDESK_ES_HOME")"
  mkdir -p "$parent"
  work="$(mktemp -d "$parent/.install.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  rc=0
  timeout "$HELPDESK_MVN_TIMEOUT" mvn -B -ntp \
    -Daether.connector.connectTimeout=20000 -Daether.connector.requestTimeout=60000 \
    dependency:copy -Dartifact="$ES_ARTIFACT" -DoutputDirectory="$work/download" \
    >"$work/mvn.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    grep -E "ERROR|WARN" "$work/mvn.log" | tail -n 15 >&2 || true
    if [ "$rc" -eq 124 ]; then
      die "Maven did not finish within ${HELPDESK_MVN_TIMEOUT}s: cannot reach Maven Central (or it is too slow)"
    elif grep -qiE "could not transfer|unknownhost|unknown host|connect(ion)? (refused|reset|timed out)|timed out|no route to host|network is unreachable|transfer failed|no plugin found for prefix" "$work/mvn.log"; then
      die "cannot reach Maven Central to fetch $ES_ARTIFACT (network or proxy problem; see the Maven output above)"
    else
      die "Maven could not fetch $ES_ARTIFACT (exit $rc; see its output above); set ES_VERSION to a version Maven Central serves"
    fi
  fi
  zip="$work/download/elasticsearch-${ES_VERSION}.zip"
  [ -f "$zip" ] || die "Maven reported success but $zip is missing"
  unzip -q "$zip" -d "$work/unpacked"
  [ -x "$work/unpacked/elasticsearch-${ES_VERSION}/bin/elasticsearch" ] || die "unexpected layout in $zip"
  rm -rf "$HELPDESK_ES_HOME"
  mv "$work/unpacked/elasticsearch-${ES_VERSION}" "$HELPDESK_ES_HOME"
  printf '%s\n' "$ES_VERSION" >"$marker"
  rm -rf "$work"
  trap - EXIT
fi
# The user owns its install, so the distribution's own config/ and logs/ work
# when run by hand; localsvc writes per-instance config and data elsewhere.
if [ "$(stat -c %U "$HELPDESK_ES_HOME")" != "$HELPDESK_ES_USER" ]; then
  chown -R "$HELPDESK_ES_USER:" "$HELPDESK_ES_HOME"
fi

log "PostgreSQL binaries:  $pg_bin (runs as user postgres)"
log "Elasticsearch:        $HELPDESK_ES_HOME (version $ES_VERSION, runs as user $HELPDESK_ES_USER)"
log "Dovecot:              $(/usr/sbin/dovecot --version | cut -d' ' -f1) (runs as user $HELPDESK_MAIL_USER, rootless)"
log "Java for ES:          $es_java_home (ES_JAVA_HOME)"
log "setfacl:              $(command -v setfacl)"
