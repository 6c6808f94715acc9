# The nginx http-context text of a Housify edge host, from pure builtins (no
# nixpkgs), so the same function feeds the NixOS module
# (services.nginx.appendHttpConfig) and any test that runs Debian's nginx:
#
#   nix-instantiate --eval --strict --json -E \
#     'import ./nixos/lib/render-nginx.nix { serverName = "housify.test"; ... }'
#
# Returns one string: upstream blocks, a port-80 server (ACME HTTP-01, else a
# 301 to HTTPS), the TLS server and, with aiUpstreams, a loopback-only proxy
# for the AI servers' internal API. Include it inside `http { ... }` after
# `include mime.types;`. Every name it defines starts with `housify_` so it
# does not collide with what the NixOS nginx module declares itself (e.g. its
# own `$connection_upgrade` map).
#
# Parameters (required unless a default is shown):
#   serverName          public host name (server_name, Alt-Svc, redirects).
#   apiUpstreams        [ "host:port" ... ] of the API instances; balanced with
#                       least_conn, idle keepalive connections reused.
#   soapUpstream        "host:port" of housify-soap, or null (default): when
#                       set, `/soap` is proxied to it (the public SOAP endpoint).
#   tlsCertificate      path of the PEM certificate chain.
#   tlsCertificateKey   path of the PEM private key (read by nginx's master
#                       process; keep it outside the Nix store).
#   webRoot             the built web app (directory with index.html and
#                       assets/), or null (default): files that exist there are
#                       served by nginx (`/assets/*` hashed and cached for a
#                       year as immutable; everything else revalidated), every
#                       other path goes to the API, which owns the routes and
#                       answers client-side routes with the app's index.html.
#   mediaRoot           directory image store, or null (default): internal
#                       location `/_media/` aliasing it, the target of the
#                       API's `X-Accel-Redirect: /_media/<key>`
#                       (HOUSIFY_MEDIA_ACCEL_REDIRECT_PREFIX=/_media/).
#   s3Endpoint          S3 endpoint URL ("http://10.0.1.10:3900"), or null
#                       (default): public location `/media/s3/` for the
#                       presigned URLs of image answers
#                       (HOUSIFY_MEDIA_S3_URL_PREFIX=/media/s3/), proxied the
#                       same way as below; the store checks the signature,
#                       nginx caches the bytes only when the signed
#                       `response-cache-control` says public. And the internal
#                       location `/_media_s3/` for
#                       `X-Accel-Redirect: /_media_s3/<bucket>/<key>?<presigned
#                       query>`: the prefix is stripped, the request goes to
#                       the endpoint path-style with `Host: <host:port of the
#                       endpoint>` (SigV4 signs the host), as GET, without the
#                       client's Authorization/Cookie headers and without a
#                       body, so the presigned signature matches and the bucket
#                       stays private. Keys must be URL-safe as they are
#                       (Housify's are `images/<uuid>.png`): nginx re-escapes
#                       `%` in an internally redirected URI.
#   mediaSecretInclude  path of a file (outside the Nix store) that defines the
#                       signed picture URLs' secret for nginx, one line:
#                       `map $host $housify_media_secret { default "<secret>"; }`
#                       (the API's HOUSIFY_MEDIA_URL_SECRET; URL-safe
#                       characters), or null (default). With it
#                       and mediaRoot: the public location
#                       `/media/{pub|own}/<key>?md5=&expires=` that nginx's
#                       secure_link checks and sends from mediaRoot without
#                       the API (docs/storage.md, "Signed URLs"): 403 for a
#                       wrong token, 410 once expired. Without it those URLs
#                       go to the API, which checks the same token itself.
#   mediaCachePath      directory for nginx's cache of PUBLIC pictures fetched
#                       through `/media/s3/`, or null (default: no cache).
#   mediaCacheMaxSize   its size bound (default "1g").
#   mediaMaxAge         max-age (s) of every picture response and the life of a
#                       cached public picture (default 60; the API's
#                       housify_common.storage.signing.CACHE_MAX_AGE).
#   clientMaxBodySize   client_max_body_size, e.g. "1000M" (largest upload).
#   nginxVersion        version of the nginx that loads the text (default
#                       "1.28.0", nixos-25.11's): before 1.25.1 HTTP/2 is a
#                       `listen ... http2` parameter, from it the `http2 on;`
#                       directive (the old form is deprecated there).
#   http3               QUIC + HTTP/3 on UDP (default: whether nginxVersion
#                       has it, i.e. >= 1.25.0). One `listen ... quic
#                       reuseport` per address, as nginx's QUIC docs ask when
#                       several workers run; Alt-Svc advertises h3. Debian
#                       12's nginx 1.22 has no QUIC: pass its version and
#                       this stays off.
#   listenAddresses     addresses of the public servers (default
#                       [ "0.0.0.0" "[::]" ]).
#   httpPort, httpsPort ports (default 80, 443).
#   acmeChallengeRoot   directory for ACME HTTP-01 (`/.well-known/acme-challenge/`
#                       on port 80), or null (default).
#   aiUpstreams         [ "host:port" ... ] of the AI servers' internal APIs
#                       (default [ ]); when not empty a server on
#                       aiProxyListen (default "127.0.0.1:8280") balances over
#                       them: the API's HOUSIFY_AI_URL for short calls.
#   metricsAllow        sources (addresses/CIDR) allowed to GET /metrics (and
#                       /metrics/..., /metrics%2F...) besides loopback
#                       (default [ ]); everyone else 403.
#   contentSecurityPolicy  CSP sent with the web app's files (default: same
#                       origin only, no inline script or style, no framing).
#   upstreamKeepalive   idle keepalive connections per worker to each upstream
#                       group (default 32).
#   defaultServer       mark the port-80 and TLS servers `default_server`
#                       (default true: requests for other names, or by bare
#                       address, reach Housify, not another server block).
{
  serverName,
  apiUpstreams,
  soapUpstream ? null,
  tlsCertificate,
  tlsCertificateKey,
  webRoot ? null,
  mediaRoot ? null,
  s3Endpoint ? null,
  mediaSecretInclude ? null,
  mediaCachePath ? null,
  mediaCacheMaxSize ? "1g",
  mediaMaxAge ? 60,
  clientMaxBodySize,
  nginxVersion ? "1.28.0",
  http3 ? builtins.compareVersions nginxVersion "1.25.0" >= 0,
  listenAddresses ? [
    "0.0.0.0"
    "[::]"
  ],
  httpPort ? 80,
  httpsPort ? 443,
  acmeChallengeRoot ? null,
  aiUpstreams ? [ ],
  aiProxyListen ? "127.0.0.1:8280",
  metricsAllow ? [ ],
  contentSecurityPolicy ? "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; manifest-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  upstreamKeepalive ? 32,
  defaultServer ? true,
}:

let
  concatMap = f: list: builtins.concatStringsSep "" (map f list);
  indent =
    prefix: text:
    builtins.concatStringsSep "\n" (
      map (line: if line == "" then "" else prefix + line) (
        builtins.filter builtins.isString (builtins.split "\n" text)
      )
    );
  optional = cond: text: if cond then text else "";
  # Throws the message of the first failed check, else returns value.
  check =
    checks: value:
    let
      failed = builtins.filter (c: !c.ok) checks;
    in
    if failed == [ ] then value else throw "render-nginx.nix: ${(builtins.head failed).message}";
  hostPorts =
    value:
    builtins.isList value
    && builtins.all (s: builtins.isString s && builtins.match ".+:[0-9]+" s != null) value;

  hasHttp2Directive = builtins.compareVersions nginxVersion "1.25.1" >= 0;
  hasQuic = builtins.compareVersions nginxVersion "1.25.0" >= 0;

  # "http://host:port/..." -> { scheme, hostPort, host }
  s3 =
    let
      m = builtins.match "(https?)://(([^/:]+|\\[[^]]+])(:[0-9]+)?)/?" s3Endpoint;
    in
    if m == null then
      throw "render-nginx.nix: s3Endpoint ${builtins.toJSON s3Endpoint} is not http(s)://host[:port] (no path)"
    else
      {
        scheme = builtins.elemAt m 0;
        hostPort = builtins.elemAt m 1;
        host = builtins.elemAt m 2;
      };

  upstream = name: servers: ''
    upstream ${name} {
        least_conn;
    ${concatMap (s: "    server ${s} max_fails=1 fail_timeout=5s;\n") servers}    keepalive ${toString upstreamKeepalive};
    }
  '';

  # add_header is inherited from the server only by locations that add none
  # of their own, so locations with their own headers repeat these.
  securityHeaders = ''
    add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;
    add_header X-Content-Type-Options "nosniff" always;
    add_header X-Frame-Options "DENY" always;
    add_header Referrer-Policy "no-referrer" always;
    add_header Permissions-Policy "camera=(self), microphone=(), geolocation=()" always;
    add_header Cross-Origin-Opener-Policy "same-origin" always;
    ${optional http3 "add_header Alt-Svc 'h3=\":${toString httpsPort}\"; ma=86400' always;"}
  '';

  # The proxy headers each proxied location sets (proxy_set_header in a
  # location replaces every inherited one, so each location lists them all).
  proxyHeaders = ''
    proxy_http_version 1.1;
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $host;
  '';

  # Proxy to the API instances; `upgrade` passes WebSocket upgrades through,
  # otherwise the connection header is cleared so keepalive works.
  apiProxy = upgrade: ''
    proxy_pass http://housify_api;
    ${proxyHeaders}proxy_set_header Upgrade ${if upgrade then "$http_upgrade" else "\"\""};
    proxy_set_header Connection ${if upgrade then "$housify_connection_upgrade" else "\"\""};
    # The API sets these for its own responses; nginx sends them once.
    proxy_hide_header X-Frame-Options;
    proxy_hide_header X-Content-Type-Options;
  '';

  locationBlock = path: body: ''
    location ${path} {
    ${indent "    " body}
    }
  '';

  webLocations = optional (webRoot != null) (
    locationBlock "/" ''
      root ${webRoot};
      # A file of the built app, else the API (which answers client-side
      # routes with the app's index.html).
      try_files $uri @housify_api;
      add_header Cache-Control "no-cache" always;
      add_header Content-Security-Policy "${contentSecurityPolicy}" always;
      ${securityHeaders}''
    + locationBlock "= /" ''
      root ${webRoot};
      try_files /index.html @housify_api;
      add_header Cache-Control "no-cache" always;
      add_header Content-Security-Policy "${contentSecurityPolicy}" always;
      ${securityHeaders}''
    + locationBlock "/assets/" ''
      root ${webRoot};
      # Vite puts a content hash in every file name under assets/: a changed
      # file is a new URL, so browsers may keep these forever (RFC 8246).
      try_files $uri =404;
      access_log off;
      add_header Cache-Control "public, max-age=31536000, immutable" always;
      ${securityHeaders}''
    + ''
      location @housify_api {
      ${indent "    " (apiProxy false)}
      }
    ''
  );

  mediaLocation = optional (mediaRoot != null) (
    locationBlock "/_media/" ''
      # Only reachable through the API's X-Accel-Redirect after its
      # permission check; the API's Cache-Control (private for pictures
      # that are not public) is kept, so no `expires` here.
      internal;
      alias ${mediaRoot}/;
    ''
  );

  # Proxying a presigned GET to the store: the prefix is stripped, the rest goes
  # path-style to the endpoint with the Host the signature covers, as GET, without
  # the client's credentials or body; an S3 error body never reaches the client.
  s3Proxy = ''
    proxy_pass ${s3.scheme}://${s3.hostPort}/;
    proxy_http_version 1.1;
    proxy_method GET;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header Host "${s3.hostPort}";
    proxy_set_header Authorization "";
    proxy_set_header Cookie "";
    proxy_set_header Connection "";
    proxy_hide_header Set-Cookie;
    proxy_hide_header Cache-Control;
    proxy_hide_header Expires;
    proxy_hide_header x-amz-request-id;
    proxy_hide_header x-amz-id-2;
    proxy_ignore_headers Set-Cookie Cache-Control Expires Vary X-Accel-Redirect X-Accel-Expires;
    proxy_intercept_errors on;
    proxy_max_temp_file_size 0;
    # The store unreachable or timing out: 503 + Retry-After, as the API answers it, not nginx's 502.
    error_page 502 504 =503 @housify_store_unavailable;
    ${optional (s3.scheme == "https") "proxy_ssl_server_name on;\nproxy_ssl_name ${s3.host};\n"}'';

  s3Location = optional (s3Endpoint != null) (
    locationBlock "/_media_s3/" ''
      # X-Accel-Redirect: /_media_s3/<bucket>/<key>?<presigned query>.
      internal;
      ${s3Proxy}''
    + locationBlock "/media/s3/" (
      ''
        # Signed URLs of image answers: /media/s3/<bucket>/<key>?<presigned query
        # with a signed response-cache-control>. The store checks the signature
        # (a changed query is its 403); nginx keeps only public pictures, keyed
        # by the whole signed URL, for mediaMaxAge seconds.
        limit_except GET { deny all; }
        ${s3Proxy}add_header Cache-Control $housify_media_s3_cache_control always;
        ${securityHeaders}''
      + optional (mediaCachePath != null) ''
        proxy_cache housify_media;
        proxy_cache_key $uri$is_args$args;
        proxy_cache_valid 200 ${toString mediaMaxAge}s;
        proxy_cache_lock on;
        proxy_no_cache $housify_media_s3_private;
        proxy_cache_bypass $housify_media_s3_private;
        add_header X-Cache-Status $upstream_cache_status always;
      ''
    )
    + locationBlock "@housify_store_unavailable" ''
      ${securityHeaders}add_header Retry-After 5 always;
      default_type application/json;
      return 503 '{"status_code":503,"detail":"image storage unavailable; try again shortly"}';
    ''
  );

  signedMediaLocation = optional (mediaRoot != null && mediaSecretInclude != null) (
    locationBlock "~ ^/media/(?<housify_media_scope>pub|own)/(?<housify_media_key>[a-z0-9][a-z0-9_./-]*)$" ''
      # Signed URLs of image answers on a directory store: the token is
      # MD5("<expires><uri> <secret>") (housify_common.storage.signing); the
      # scope (pub|own) is inside the signed uri. No Python on this path.
      secure_link $arg_md5,$arg_expires;
      secure_link_md5 "$secure_link_expires$uri $housify_media_secret";
      if ($secure_link = "") {
          return 403;
      }
      if ($secure_link = "0") {
          return 410;
      }
      limit_except GET { deny all; }
      alias ${mediaRoot}/$housify_media_key;
      add_header Cache-Control $housify_media_cache_control always;
      ${securityHeaders}''
  );

  # http-context text of the signed locations: the secret, the Cache-Control
  # per scope, which S3 URLs may be cached, the cache itself.
  mediaMaps =
    optional (mediaRoot != null && mediaSecretInclude != null) ''
      include ${mediaSecretInclude};
      map $housify_media_scope $housify_media_cache_control {
          pub "public, max-age=${toString mediaMaxAge}";
          default "private, max-age=${toString mediaMaxAge}";
      }
    ''
    + optional (s3Endpoint != null) ''
      map $args $housify_media_s3_cache_control {
          "~(^|&)response-cache-control=public(%2C|,|&|$)" "public, max-age=${toString mediaMaxAge}";
          default "private, max-age=${toString mediaMaxAge}";
      }
      map $args $housify_media_s3_private {
          "~(^|&)response-cache-control=public(%2C|,|&|$)" "";
          default 1;
      }
    ''
    + optional (mediaCachePath != null) ''
      proxy_cache_path ${mediaCachePath} levels=1:2 keys_zone=housify_media:10m max_size=${mediaCacheMaxSize} inactive=${toString mediaMaxAge}s use_temp_path=off;
    '';

  default = optional defaultServer " default_server";
  listenTls =
    addr:
    "listen ${addr}:${toString httpsPort} ssl${optional (!hasHttp2Directive) " http2"}${default};\n"
    + optional http3 "listen ${addr}:${toString httpsPort} quic reuseport${default};\n";

  metricsSources = [
    "127.0.0.1"
    "::1"
  ]
  ++ metricsAllow;
in
check [
  {
    ok = builtins.isString serverName && serverName != "";
    message = "serverName must be a non-empty string";
  }
  {
    ok = hostPorts apiUpstreams && apiUpstreams != [ ];
    message = "apiUpstreams must be a non-empty list of \"host:port\" strings";
  }
  {
    ok = hostPorts aiUpstreams;
    message = "aiUpstreams must be a list of \"host:port\" strings";
  }
  {
    ok = !http3 || hasQuic;
    message = "http3 needs nginx >= 1.25.0 (nginxVersion is ${nginxVersion})";
  }
  {
    ok = builtins.isList listenAddresses && listenAddresses != [ ];
    message = "listenAddresses must not be empty";
  }
  {
    ok = builtins.match "[0-9]+[kKmMgG]?" clientMaxBodySize != null;
    message = "clientMaxBodySize ${builtins.toJSON clientMaxBodySize} is not a size such as 1000M";
  }
]
  (
    upstream "housify_api" apiUpstreams
    + optional (soapUpstream != null) (upstream "housify_soap" [ soapUpstream ])
    + optional (aiUpstreams != [ ]) (upstream "housify_ai" aiUpstreams)
    + mediaMaps
    + ''
      # No nginx version in Server headers or error pages, in every server below (gixy-ng
      # version_disclosure).
      server_tokens off;

      map $http_upgrade $housify_connection_upgrade {
          default upgrade;
          "" "";
      }

      server {
      ${concatMap (a: "    listen ${a}:${toString httpPort}${default};\n") listenAddresses}    server_name ${serverName};
      ${optional (acmeChallengeRoot != null) ''
            location /.well-known/acme-challenge/ {
                root ${acmeChallengeRoot};
                auth_basic off;
            }
      ''}    location / {
              return 301 https://$host${optional (httpsPort != 443) ":${toString httpsPort}"}$request_uri;
          }
      }

      server {
      ${indent "    " (concatMap listenTls listenAddresses)}
          server_name ${serverName};
      ${optional hasHttp2Directive "    http2 on;\n"}${optional http3 "    http3 on;\n"}
          ssl_certificate ${tlsCertificate};
          ssl_certificate_key ${tlsCertificateKey};
          ssl_protocols TLSv1.3 TLSv1.2;
          # TLS 1.2: forward-secret AEAD suites only, Mozilla's "intermediate" list (Server Side
          # TLS 5.7) without the DHE ones (no dhparam); TLS 1.3 suites are all strong.
          ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
          ssl_prefer_server_ciphers off;
          ssl_session_cache shared:housify_tls:10m;
          ssl_session_timeout 1d;
          ssl_session_tickets off;

          client_max_body_size ${clientMaxBodySize};
      ${optional (webRoot != null) ''
            # The web app's files (try_files) lie in the Nix store and never change in place:
            # keep their lookups (a new build is a new path).
            open_file_cache max=1000 inactive=60s;
            open_file_cache_valid 300s;
            open_file_cache_errors on;
      ''}
      ${indent "    " securityHeaders}

      ${indent "    " (
        optional (webRoot == null) (locationBlock "/" (apiProxy false))
        + webLocations
        # Only the events path: a prefix location "/jobs/" with proxy_pass makes nginx
        # answer "/jobs" itself with a 301 to "/jobs/" (ngx_http_core_module, "location"),
        # which broke POST /jobs.
        + locationBlock "~ ^/jobs/[^/]+/events$" (
          apiProxy true
          + ''
            # Job progress: WebSocket upgrade, long-lived.
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
          ''
        )
        # Every spelling the API would route to /metrics: "/metrics/", "/metrics%2F" (nginx matches
        # the decoded path, the API gets the raw one) and anything below; an exact "= /metrics"
        # let those through to the API from anywhere (issue 21 item 9).
        + locationBlock "~ ^/metrics(/|$)" (
          concatMap (s: "allow ${s};\n") metricsSources + "deny all;\n" + apiProxy false
        )
        + optional (soapUpstream != null) (
          locationBlock "/soap" ''
            proxy_pass http://housify_soap;
            ${proxyHeaders}proxy_set_header Connection "";
          ''
        )
        + mediaLocation
        + signedMediaLocation
        + s3Location
      )}
      }
    ''
    + optional (aiUpstreams != [ ]) ''

      # The AI servers' internal API for the API's short calls (HOUSIFY_AI_URL).
      server {
          listen ${aiProxyListen};
          location / {
              proxy_pass http://housify_ai;
              proxy_http_version 1.1;
              proxy_set_header Connection "";
              proxy_read_timeout 120s;
              proxy_next_upstream error timeout http_502 http_503;
          }
      }
    ''
  )
