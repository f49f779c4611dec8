/**
 * The guard on variable names a secret's name chose. A variable named by the caller
 * (`--secret NAME=VAR`, `VAR=secret://…` in a references file) is set as asked. A variable
 * derived from a secret's name or a JSON key (`--prefix`, `--secret NAME`, NAME_KEY) is chosen
 * by whoever may create that secret or write its value, so it may neither replace a variable
 * that is already set nor set one of the variables below, which decide what code a program
 * loads or runs, where it looks for files, or where its traffic and keys go.
 */
import { SecretsError } from './errors.js';

/**
 * Whether a variable leads to our identity: SECRETS_IDENTITY_KEY is the key,
 * SECRETS_IDENTITY_FILE says where it is, and any later SECRETS_IDENTITY_* will be about the key
 * too. No program `secrets` starts inherits one (exec's child, a rotation handler, git and its
 * hooks), except git's merge step, whose driver is `secrets` itself.
 */
export function leadsToIdentity(variable: string): boolean {
  return variable.startsWith('SECRETS_IDENTITY_');
}

/** Exact names a derived name never sets, by family (the family appears in the error). */
const PROTECTED_NAMES: Readonly<Record<string, readonly string[]>> = {
  'the program search path and the user': [
    'PATH',
    'MANPATH',
    'LIBPATH',
    'SHLIB_PATH',
    'HOME',
    'USER',
    'LOGNAME',
    'SHELL',
    'PWD',
    'OLDPWD',
    'TMPDIR',
    'TMP',
    'TEMP',
    'TERMINFO',
    'TERMINFO_DIRS',
  ],
  'a shell': [
    'ENV',
    'SHELLOPTS',
    'BASHOPTS',
    'PS0',
    'PS1',
    'PS2',
    'PS3',
    'PS4',
    'PROMPT',
    'RPROMPT',
    'RPS1',
    'RPS2',
    'PROMPT_COMMAND',
    'PROMPT_DIRTRIM',
    'IFS',
    'CDPATH',
    'FPATH',
    'GLOBIGNORE',
    'HISTFILE',
    'HISTCONTROL',
    'INPUTRC',
    'ZDOTDIR',
    'POSIXLY_CORRECT',
    'FCEDIT',
    'TMOUT',
    'MAIL',
    'MAILPATH',
    'PERIOD',
    'READNULLCMD',
    'NULLCMD',
  ],
  'the C library': ['GCONV_PATH', 'LOCPATH', 'NLSPATH', 'GLIBC_TUNABLES', 'HOSTALIASES', 'RESOLV_HOST_CONF', 'RES_OPTIONS', 'LOCALDOMAIN', 'TZDIR'],
  'a language runtime': [
    'CLASSPATH',
    'JAVA_TOOL_OPTIONS',
    '_JAVA_OPTIONS',
    'JDK_JAVA_OPTIONS',
    'JAVA_OPTS',
    'MAVEN_OPTS',
    'GRADLE_OPTS',
    'JAVA_HOME',
    'JRE_HOME',
    'SBT_OPTS',
    'ANT_OPTS',
    'ANT_HOME',
    'M2_HOME',
    'MAVEN_HOME',
    'LEIN_JVM_OPTS',
    'ELECTRON_RUN_AS_NODE',
    'DENO_DIR',
    'BUN_INSTALL',
    'RUSTC',
    'RUSTC_WRAPPER',
    'RUSTFLAGS',
    'RUSTDOC',
    'RUSTUP_HOME',
    'RUSTUP_TOOLCHAIN',
    'GOFLAGS',
    'GOTOOLCHAIN',
    'GOPROXY',
    'GOPATH',
    'GOROOT',
    'GOENV',
    'GOBIN',
    'GOCACHE',
    'GOMODCACHE',
    'GOPRIVATE',
    'GONOPROXY',
    'GONOSUMDB',
    'GOSUMDB',
    'GOINSECURE',
    'GOEXPERIMENT',
    'GODEBUG',
    'COR_PROFILER',
    'COR_PROFILER_PATH',
    'COR_ENABLE_PROFILING',
    'CONDA_PREFIX',
    'VIRTUAL_ENV',
    'JULIA_DEPOT_PATH',
    'JULIA_LOAD_PATH',
    'OCAMLPATH',
    'OCAMLRUNPARAM',
    'EMACSLOADPATH',
    'GUILE_LOAD_PATH',
    'PHPRC',
    'PHP_INI_SCAN_DIR',
    'LUA_INIT',
    'LUA_PATH',
    'LUA_CPATH',
    'TCLLIBPATH',
    'ERL_LIBS',
    'ERL_FLAGS',
    'ERL_AFLAGS',
    'ERL_ZFLAGS',
  ],
  'a build tool': [
    'CC',
    'CXX',
    'CPP',
    'LD',
    'AR',
    'AS',
    'NM',
    'RANLIB',
    'STRIP',
    'OBJCOPY',
    'FC',
    'CFLAGS',
    'CXXFLAGS',
    'CPPFLAGS',
    'LDFLAGS',
    'MAKEFLAGS',
    'MAKE',
    'MFLAGS',
    'MAKEFILES',
    'PKG_CONFIG',
    'PKG_CONFIG_PATH',
    'CCACHE_PREFIX',
    'CCACHE_DIR',
    'DISTCC_HOSTS',
    'QMAKESPEC',
  ],
  'an editor, pager or password prompt': [
    'EDITOR',
    'VISUAL',
    'SUDO_EDITOR',
    'KUBE_EDITOR',
    'GIT_EDITOR',
    'SVN_EDITOR',
    'VIMINIT',
    'EXINIT',
    'MYVIMRC',
    'VIMRUNTIME',
    'EMACS',
    'PAGER',
    'MANPAGER',
    'MANOPT',
    'BROWSER',
    'LESS',
    'LESSOPEN',
    'LESSCLOSE',
    'LESSKEY',
    'LESSKEYIN',
    'LESSEDIT',
    'LESSSECURE',
    'SYSTEMD_PAGER',
    'SYSTEMD_EDITOR',
    'SSH_ASKPASS',
    'SSH_ASKPASS_REQUIRE',
    'SUDO_ASKPASS',
    'SSH_AUTH_SOCK',
    'GNUPGHOME',
    'GPG_AGENT_INFO',
    'DISPLAY',
    'WAYLAND_DISPLAY',
  ],
  'TLS, proxies and credentials': [
    'SSL_CERT_FILE',
    'SSL_CERT_DIR',
    'SSLKEYLOGFILE',
    'OPENSSL_CONF',
    'OPENSSL_ENGINES',
    'OPENSSL_MODULES',
    'REQUESTS_CA_BUNDLE',
    'CURL_CA_BUNDLE',
    'HTTP_PROXY',
    'HTTPS_PROXY',
    'FTP_PROXY',
    'ALL_PROXY',
    'NO_PROXY',
    'KRB5CCNAME',
    'KRB5_CONFIG',
    'KUBECONFIG',
    'AWS_CONFIG_FILE',
    'AWS_SHARED_CREDENTIALS_FILE',
    'AWS_ENDPOINT_URL',
    'AWS_CA_BUNDLE',
    'GOOGLE_APPLICATION_CREDENTIALS',
    'CLOUDSDK_CONFIG',
    'AZURE_CONFIG_DIR',
    'PGHOST',
    'PGHOSTADDR',
    'PGPORT',
    'PGSERVICE',
    'PGSERVICEFILE',
    'PGPASSFILE',
    'PGSYSCONFDIR',
    'PGSSLMODE',
    'PGSSLROOTCERT',
    'PGOPTIONS',
    'MYSQL_HOST',
    'MYSQL_TCP_PORT',
    'MYSQL_UNIX_PORT',
    'MYSQL_TEST_LOGIN_FILE',
    'MYSQL_HISTFILE',
    'TNS_ADMIN',
    'ORACLE_HOME',
    'NODE_EXTRA_CA_CERTS',
    'NETRC',
    'CURL_HOME',
    'WGETRC',
    'SSH_CONFIG',
    'HELM_HOME',
    'TF_CLI_CONFIG_FILE',
    'TERRAFORM_CONFIG',
    'NIX_PATH',
  ],
};

/** Prefixes of families a derived name never sets. */
const PROTECTED_PREFIXES: Readonly<Record<string, readonly string[]>> = {
  'the dynamic loader': ['LD_', 'DYLD_'],
  'a shell': ['BASH_', 'ZSH_'],
  'the C library': ['MALLOC_'],
  'a language runtime': [
    'NODE_',
    'NPM_CONFIG_',
    'YARN_',
    'PNPM_',
    'BUN_',
    'DENO_',
    'PYTHON',
    'PIP_',
    'UV_',
    'PIPX_',
    'POETRY_',
    'CONDA_',
    'PERL',
    'RUBY',
    'GEM_',
    'BUNDLE_',
    'DOTNET_',
    'CORECLR_',
    'COMPLUS_',
    'CGO_',
    'CARGO_',
    'R_PROFILE',
    'R_ENVIRON',
    'R_LIBS',
    'GRADLE_',
    'MAVEN_',
    'COMPOSER_',
  ],
  'a build tool': ['CMAKE_', 'MESON_', 'BAZEL_'],
  'a container or cluster tool': ['DOCKER_', 'PODMAN_', 'KUBE_', 'HELM_', 'CONTAINERS_'],
  git: ['GIT_'],
  'the XDG base directories': ['XDG_'],
  'secrets itself': ['SECRETS_'],
};

const NAME_FAMILY = new Map(Object.entries(PROTECTED_NAMES).flatMap(([family, names]) => names.map((n) => [n, family] as const)));
const PREFIX_FAMILY = Object.entries(PROTECTED_PREFIXES).flatMap(([family, prefixes]) => prefixes.map((p) => [p, family] as const));

/** The family a protected variable belongs to (for the message), or undefined when a derived name may set it. */
export function protectedFamily(variable: string): string | undefined {
  return NAME_FAMILY.get(variable) ?? PREFIX_FAMILY.find(([p]) => variable.startsWith(p))?.[1];
}

/** Every protected name and prefix (prefixes end in `_` or are a family's stem), for the docs and tests. */
export function protectedVariables(): { names: string[]; prefixes: string[] } {
  return { names: [...NAME_FAMILY.keys()], prefixes: PREFIX_FAMILY.map(([p]) => p) };
}

/** Where a derived variable's name came from: the secret, and the JSON key when there is one. */
export interface DerivedFrom {
  readonly secret: string;
  readonly field?: string;
}

/**
 * Throws DENIED (exit 5) when a variable derived from a secret's name would be protected, or
 * already set in `environment` (the environment the variables join). Explicitly named
 * variables (`derived` undefined) are not checked: the caller chose them.
 */
export function assertDerivedNamesSafe(
  variables: readonly { readonly variable: string; readonly derived?: DerivedFrom | undefined }[],
  environment: Readonly<Record<string, string | undefined>>,
): void {
  for (const { variable, derived } of variables) {
    if (derived === undefined) continue;
    const what = derived.field !== undefined ? `secret ${derived.secret} (JSON key ${JSON.stringify(derived.field)})` : `secret ${derived.secret}`;
    const mapping =
      derived.field !== undefined ? `--secret 'secret://${derived.secret}#${derived.field}=${variable}'` : `--secret ${derived.secret}=${variable}`;
    const family = protectedFamily(variable);
    if (family !== undefined) {
      throw new SecretsError(
        'DENIED',
        `${what} would set ${variable}, a variable of ${family} that a name derived from a secret never sets`,
        `if you mean it, name the variable yourself: ${mapping} (or ${variable}=secret://… in a references file)`,
      );
    }
    if (environment[variable] !== undefined) {
      throw new SecretsError(
        'DENIED',
        `${what} would replace ${variable}, which is already set, and a name derived from a secret never replaces a variable`,
        `to replace it, name the variable yourself: ${mapping}; or unset it, or rename the secret`,
      );
    }
  }
}
