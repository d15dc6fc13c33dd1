// A real OpenID Connect provider for custodata's identity tests: panva's oidc-provider (OpenID
// Certified), configured from a JSON file the test fixture writes, on the port it names.
//
// Login is non-interactive but goes through the provider's own interaction machinery: the
// authorization endpoint redirects to /interaction/<uid>, a form POST of the login name to
// /interaction/<uid>/login finishes it with the user's amr/acr, and the provider redirects back
// to /auth/<uid> and on to the client with the code.  Consent is granted by loadExistingGrant
// (a first-party client), for the scopes and the resource indicator the request names.
//
// Usage: node provider.js <config.json>     (prints "ready <issuer>" once listening)
// config: {issuer, port, kid, resources: [...], clients: [...], users_file}
import crypto from 'node:crypto';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const conf = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
// login name -> {name, email, groups, branch, employee_type, valid_to, amr, acr}; read on every use,
// so a test can move a person to another group (a mover) between two logins
const users = new Proxy({}, {
  get: (_target, id) => JSON.parse(fs.readFileSync(conf.users_file, 'utf8'))[id],
});

function rsaJwk(kid) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

function accountClaims(id) {
  const u = users[id];
  return {
    sub: id, name: u.name, preferred_username: id, email: u.email, groups: u.groups,
    branch: u.branch, employee_type: u.employee_type, valid_to: u.valid_to,
  };
}

const apiResources = new Set(conf.resources); // resource indicators that get JWT access tokens

const configuration = {
  clients: conf.clients,
  jwks: { keys: [rsaJwk(conf.kid || 'test-key-1')] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    // how the person authenticated goes in every ID token: what custodata's MFA policy reads
    openid: ['sub', 'amr', 'acr', 'auth_time'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups', 'branch', 'employee_type', 'valid_to'],
  },
  acrValues: ['urn:custodata:pwd', 'urn:custodata:mfa'],
  conformIdTokenClaims: false, // the groups and branch claims in the ID token itself
  pkce: { required: () => true },
  ttl: { AccessToken: 300, IdToken: 300, AuthorizationCode: 60, Interaction: 300, Session: 600, Grant: 600 },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => undefined,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource) => {
        if (!apiResources.has(resource)) throw new Provider.errors.InvalidTarget();
        return { scope: 'api', audience: resource, accessTokenFormat: 'jwt', accessTokenTTL: 300,
                 jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  async findAccount(ctx, id) {
    if (!users[id]) return undefined;
    return { accountId: id, async claims() { return accountClaims(id); } };
  },
  async extraTokenClaims(ctx, token) {
    if (token.kind !== 'AccessToken' || !users[token.accountId]) return undefined;
    const u = users[token.accountId];
    return { preferred_username: token.accountId, groups: u.groups, amr: u.amr, acr: u.acr };
  },
  async loadExistingGrant(ctx) {
    const { client, session, params } = ctx.oidc;
    if (!session.accountId) return undefined;
    const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope('openid profile email groups');
    for (const resource of [].concat(params.resource || [])) grant.addResourceScope(resource, 'api');
    await grant.save();
    return grant;
  },
};

const provider = new Provider(conf.issuer, configuration);

function form(body) {
  return Object.fromEntries(new URLSearchParams(body));
}

provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (!m[2] && ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = `<form method="post" action="/interaction/${details.uid}/login">` +
      '<input name="login"><button>login</button></form>';
    return undefined;
  }
  if (m[2] && ctx.method === 'POST') {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const { login } = form(Buffer.concat(chunks).toString());
    const user = users[login];
    ctx.respond = false;
    if (!user) {
      return provider.interactionFinished(ctx.req, ctx.res, { error: 'access_denied',
        error_description: 'unknown user' }, { mergeWithLastSubmission: false });
    }
    return provider.interactionFinished(ctx.req, ctx.res, {
      login: { accountId: login, amr: user.amr, acr: user.acr },
    }, { mergeWithLastSubmission: false });
  }
  return next();
});

provider.listen(conf.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${conf.issuer}\n`);
});
