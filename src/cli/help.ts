/**
 * Help that every command shares: two or more examples per command, shown after its flags by
 * `secrets help COMMAND` and `COMMAND --help`, and the exit-code table (`secrets help exit-codes`).
 * One table, so the man page (scripts/man.mjs) and the help cannot disagree.
 */

/** Examples per command path ("policy put"), each line a command and, after #, what it does. */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  init: ['secrets init', 'secrets --vault ~/team/vault.yaml init --name team --git git@github.com:acme/vault.git'],
  create: [
    "printf 'hunter2' | secrets create demo/password --value-stdin --description demo --tag env=dev",
    'secrets create prod/api-key --generate --length 40 --exclude-punctuation',
    'secrets create prod/cert --from-file cert.der   # non-UTF-8 bytes become a binary secret',
  ],
  get: [
    'secrets get prod/db',
    'secrets get prod/db --field password',
    'secrets get prod/db --version-stage PREVIOUS --json',
    'secrets get prod/db prod/api --json   # several at once',
    'secrets get --filter tag:team=payments --json',
    'secrets get prod/db --field password --clip   # to the clipboard, cleared after 45 s',
  ],
  put: [
    "printf 'hunter3' | secrets put demo/password --value-stdin",
    'secrets put prod/db --generate --version-stage STAGED   # a new version without moving CURRENT',
  ],
  edit: ['secrets edit prod/db   # in $VISUAL or $EDITOR (vi); a new version if it changed', 'EDITOR="code --wait" secrets edit prod/config'],
  update: ['secrets update prod/db --description "primary database"', 'secrets update prod/db --value-stdin < db.json'],
  describe: ['secrets describe prod/db', 'secrets describe prod/db --json'],
  versions: ['secrets versions prod/db', 'secrets versions prod/db --json'],
  stage: [
    'secrets stage prod/db CURRENT --from CURRENT --to PREVIOUS   # roll back (as `secrets rollback prod/db`)',
    'secrets stage prod/db CURRENT --from CURRENT --to VERSION_ID',
    'secrets stage prod/db CANARY --to VERSION_ID',
  ],
  rollback: ['secrets rollback prod/db   # CURRENT back to PREVIOUS, PREVIOUS to the old CURRENT', 'secrets rollback prod/db --json'],
  list: [
    'secrets list',
    'secrets list --filter tag:team=payments   # secrets tagged team=payments',
    "secrets list --filter tag-key=env --filter 'name=!prod' --json",
  ],
  tag: ['secrets tag prod/db owner=alice env=prod', 'secrets tag prod/db team=payments'],
  untag: ['secrets untag prod/db owner', 'secrets untag prod/db owner env'],
  delete: [
    'secrets delete prod/db --yes   # restorable for 30 days',
    'secrets delete prod/db --recovery-window-days 7 --yes',
    'secrets delete prod/db --force --yes',
  ],
  restore: ['secrets restore prod/db', 'secrets restore prod/db --json'],
  rotate: [
    'secrets rotate prod/api-key --handler password --every 30',
    'secrets rotate prod/db --handler postgres --cron "0 3 * * 1" --window 2h',
    'secrets rotate prod/db --handler postgres --strategy alternating-users --master-secret prod/db-admin',
    'secrets rotate prod/db                 # rotate now, or resume an interrupted rotation',
    'secrets rotate --due                   # from cron or a systemd timer',
    'secrets rotate prod/db --cancel',
    'secrets rotate prod/hook --handler command:rotate-hook   # a program each rotating machine allows',
  ],
  handler: ['secrets handler allow rotate-hook /usr/local/bin/rotate-hook', 'secrets handler list'],
  'handler allow': [
    'secrets handler allow rotate-hook /usr/local/bin/rotate-hook',
    'secrets handler allow rotate-hook /opt/hooks/v2/rotate   # point the name elsewhere',
  ],
  'handler remove': ['secrets handler remove rotate-hook', 'secrets handler remove rotate-db   # rotate refuses command:rotate-db here from now on'],
  'handler list': ['secrets handler list', 'secrets handler list --json'],
  exec: [
    'secrets exec -- npm start          # variables from ./secrets.env',
    'secrets exec --secret prod/db --pristine --strict -- ./migrate',
    'secrets exec --prefix prod/app/ -- env',
  ],
  env: ['eval "$(secrets env --format shell --prefix prod/app/)"', 'secrets env --secret prod/db --format docker > .env.docker'],
  inject: [
    'secrets inject -i config.tmpl -o config.yaml   # password: {{ secret://prod/db#password | yaml }}',
    'secrets inject -i nginx.conf.tmpl > /etc/nginx/conf.d/app.conf',
    "echo 'DB_PASSWORD={{ secret://prod/db#password | shell }}' | secrets inject -o db.env   # the template from stdin",
  ],
  import: [
    'secrets import --format dotenv --prefix prod/app/ .env',
    'aws secretsmanager batch-get-secret-value ... | secrets import --format aws -',
    'secrets import --format backup --passphrase-file pass.txt vault.backup   # every version, tag and setting',
    'secrets import --format backup --prefix restored/ vault.backup   # beside the secrets that still exist',
  ],
  export: [
    'secrets export --format dotenv --filter name=prod/app/ --yes > app.env',
    'secrets export --format json --yes > current.json   # CURRENT values only: not a backup',
    'secrets export --format backup --to "$(secrets identity show)" > vault.backup',
    'secrets export --format backup --passphrase-file pass.txt > vault.backup',
  ],
  random: ['secrets random', 'secrets random --length 24 --exclude-punctuation'],
  serve: [
    'secrets serve   # http://127.0.0.1:2773 until Ctrl-C',
    'secrets serve --port 0 --json   # a free port; prints {endpoint, accountId, accessKeyId, region}',
    'secrets --vault ~/team/vault.yaml serve --port 8200',
  ],
  'aws-credentials': [
    'secrets aws-credentials   # export lines: run them with eval "$(secrets aws-credentials)"',
    'secrets aws-credentials --format env   # KEY=value lines, as systemd EnvironmentFile= reads them',
    'secrets aws-credentials --json',
    'secrets aws-credentials --format credentials-file >> ~/.aws/credentials',
  ],
  identity: ['secrets identity show', 'secrets identity new --name ci --out ci.key'],
  'identity show': ['secrets identity show', 'secrets identity show --json'],
  'identity new': ['secrets identity new --name ci --out ci.key', 'secrets identity new --name deploy   # prints the key once, for a CI secret store'],
  member: ['secrets member add bob secrets-identity-1…', 'secrets member list'],
  'member add': ['secrets member add bob secrets-identity-1…', 'secrets member add carol secrets-identity-1… --role admin'],
  'member remove': [
    'secrets member remove bob --yes',
    'secrets member remove bob --yes --json',
    'secrets member remove dave --yes --confirm-records   # an admin, after checking what they signed',
  ],
  'member confirm': [
    'secrets member confirm bob prod/hook   # after `secrets describe prod/hook`',
    'secrets member confirm bob   # everything bob left on hold',
  ],
  'member list': ['secrets member list', 'secrets member list --removed --json'],
  policy: ['secrets policy put dev-read -f dev-read.yaml', 'secrets policy simulate --member bob --action secrets:GetSecretValue --secret prod/db'],
  'policy put': [
    'secrets policy put dev-read -f dev-read.yaml',
    'secrets policy put --secret prod/db -f only-alice.yaml',
    'secrets policy put ci-read -f ci-read.yaml --strict   # refuse warnings too',
  ],
  'policy get': ['secrets policy get dev-read', 'secrets policy get --secret prod/db --json'],
  'policy list': ['secrets policy list', 'secrets policy list --json'],
  'policy delete': ['secrets policy delete dev-read          # asks first on a terminal', 'secrets policy delete --secret prod/db --yes --json'],
  'policy attach': ['secrets policy attach dev-read bob', 'secrets policy attach ci-read ci'],
  'policy detach': ['secrets policy detach dev-read bob      # asks first on a terminal', 'secrets policy detach ci-read ci --yes'],
  'policy validate': [
    'secrets policy validate -f dev-read.yaml',
    'secrets policy validate -f resource.json --json',
    'secrets policy validate -f ci-read.yaml --strict   # in CI: warnings fail too',
  ],
  'policy simulate': [
    'secrets policy simulate --member bob --action secrets:GetSecretValue --secret prod/db',
    'secrets policy simulate --member ci --action secrets:PutSecretValue --secret prod/db --context secrets:CurrentTime=2026-01-01T00:00:00Z',
  ],
  verify: ['secrets verify', 'secrets verify --json', 'secrets verify --accept-checkpoint 14FKR9YciiXxW752Xwd5zph49mxq0UxTpbmOmw9vujQ='],
  reseal: ['secrets reseal', 'secrets reseal --json'],
  compact: ['secrets compact', 'secrets compact --json'],
  migrate: [
    'secrets migrate                      # shows members and policies, asks first',
    'secrets migrate --yes --json',
    'git show HEAD~1:vault.yaml > /tmp/v1.yaml && secrets migrate --accept /tmp/v1.yaml',
  ],
  sync: ['secrets sync --setup --remote git@github.com:acme/vault.git', 'secrets sync', 'secrets sync --json'],
  clone: ['secrets clone git@github.com:acme/vault.git ~/team', 'secrets clone /srv/git/vault.git'],
  status: ['secrets status', 'secrets status --fetch --json'],
  audit: ['secrets audit --secret prod/db --since 7d', 'secrets audit --event GetSecretValue --outcome denied --json', 'secrets audit --all-members'],
  'audit publish': ['secrets audit publish', 'secrets audit publish --json'],
  'audit verify': ['secrets audit verify', 'secrets audit verify --all-members'],
  'audit export': ['secrets audit export > events.jsonl', 'secrets audit export --format cloudtrail > cloudtrail.json'],
  doctor: ['secrets doctor', 'secrets doctor --json'],
  completion: [
    'secrets completion bash > ~/.local/share/bash-completion/completions/secrets',
    'secrets completion zsh > "${fpath[1]}/_secrets"',
    'secrets completion fish > ~/.config/fish/completions/secrets.fish',
  ],
  'exit-codes': ['secrets help exit-codes', 'secrets get prod/db || echo "exit $?"'],
};

/** Every exit code of errors.ts, with what typically causes each (`secrets help exit-codes`). */
export const EXIT_CODES: readonly (readonly [string, string])[] = [
  ['0', 'ok (doctor with warnings only)'],
  ['1', 'internal error: a bug (set SECRETS_DEBUG=1 for the stack)'],
  ['2', 'usage: a bad flag, argument, name, label, tag, token or size; a prompt needed off a terminal'],
  ['3', 'not found: vault, secret, version, label or field; a secret scheduled for deletion'],
  ['4', 'conflict: already exists, lock timeout, label or token conflict, rotation abandoned, sync could not merge'],
  ['5', 'denied: not a member, not allowed by policy, or an admin-only command'],
  ['6', 'integrity: damaged, altered, forged, rolled back or undecryptable; a broken audit chain'],
  ['7', 'identity: no identity, keychain unreachable or locked, bad identity key or file'],
  ['8', 'storage: the file system refused (ENOSPC, EACCES, EROFS…), or the audit log cannot be appended'],
  ['9', 'rotation: a step failed at the service (CURRENT unchanged), or rotate --due had a failure'],
  ['126', 'exec: the command cannot run'],
  ['127', 'exec: the command was not found'],
  ['128+N', 'exec: the command died of signal N'],
  ['130', 'interrupted at a prompt (Ctrl-C), or a confirmation declined'],
];

/** The examples block of a command's help, or '' when it has none. */
export function examplesText(path: string): string {
  const lines = EXAMPLES[path];
  if (!lines || lines.length === 0) return '';
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

/** The exit-code table as help text. */
export function exitCodesText(): string {
  const width = Math.max(...EXIT_CODES.map(([c]) => c.length));
  return `\nExit codes:\n${EXIT_CODES.map(([c, m]) => `  ${c.padEnd(width)}  ${m}`).join('\n')}\n`;
}
