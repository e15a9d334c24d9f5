// The GraphQL playground: GraphiQL from this service's own static files.
//
// Queries and mutations go to this page's URL over HTTP; subscriptions go to
// the same path over WebSocket (graphql-transport-ws). GraphiQL's fetcher
// sends the headers of the Headers editor with every HTTP request and, for a
// subscription, as the connection_init payload, which is where the service
// reads the Authorization entry of a WebSocket.
(function () {
  "use strict";

  // The dashboard keeps the token it signed in with under this key.
  var TOKEN_KEY = "gql-service.token";

  var DEFAULT_QUERY = [
    "# Service Collections GraphQL API",
    "#",
    "# 1. In Headers (below), put a token after",
    "#    \"Bearer \" (`make run` prints some).",
    "# 2. Re-fetch the schema (Shift-Ctrl-R) for",
    "#    completion and docs; run with Ctrl-Enter.",
    "#",
    "# Subscriptions send the same header:",
    "#   subscription {",
    "#     collectionEvents { type collectionName }",
    "#   }",
    "",
    "query Projects {",
    "  projects {",
    "    nodes {",
    "      name",
    "      myRole",
    "      environments {",
    "        name",
    "        collectionCount",
    "        resourceCount",
    "      }",
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");

  function storedToken() {
    try {
      return window.sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (error) {
      return "";
    }
  }

  function defaultHeaders() {
    var headers = { Authorization: "Bearer " + storedToken() };
    return JSON.stringify(headers, null, 2);
  }

  function endpoints() {
    var http = new URL(window.location.pathname, window.location.href);
    var ws = new URL(http.href);
    ws.protocol = http.protocol === "https:" ? "wss:" : "ws:";
    return { http: http.href, ws: ws.href };
  }

  function hasToken(headers) {
    var names = Object.keys(headers || {});
    for (var i = 0; i < names.length; i += 1) {
      var value = headers[names[i]];
      if (names[i].toLowerCase() === "authorization" && typeof value === "string") {
        return /^Bearer\s+\S+/i.test(value.trim());
      }
    }
    return false;
  }

  // Every operation needs a token; without one, say so instead of sending a
  // request that can only come back 401.
  function withTokenHint(fetcher) {
    return function (params, options) {
      if (!hasToken(options && options.headers)) {
        return Promise.resolve({
          errors: [
            {
              message:
                "Add a token to the Authorization header in the Headers tab " +
                "(\"Bearer <token>\"), then re-fetch the schema or run again.",
              extensions: { code: "UNAUTHENTICATED" },
            },
          ],
        });
      }
      return fetcher(params, options);
    };
  }

  var urls = endpoints();
  var fetcher = withTokenHint(
    GraphiQL.createFetcher({ url: urls.http, subscriptionUrl: urls.ws })
  );

  function Playground() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultHeaders: defaultHeaders(),
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      // Tokens stay out of localStorage; the headers reset on reload.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    });
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(Playground));
})();
