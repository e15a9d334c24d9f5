// The live dashboard: projects x environments, a collection's resources, and
// a collectionEvents subscription that keeps both current.
//
// Data comes from one GraphQL query over HTTP; changes arrive over
// graphql-transport-ws (the graphql-ws client, vendored next to GraphiQL).
// An event does not carry the new counts, so each burst of events triggers
// one re-read of the grid (and of the open collection when it changed):
// the service keeps those counts as counters, so a re-read is cheap.
// Everything the service returns is put on the page as text, never as HTML.
"use strict";

(function () {
  const TOKEN_KEY = "gql-service.token";
  const ENDPOINT = "/graphql";
  const REFRESH_DELAY_MS = 150;
  const RESUBSCRIBE_DELAY_MS = 1000;
  const MAX_EVENTS_SHOWN = 12;
  const MAX_SEEN_CURSORS = 5000;
  const MAX_RETRY_WAIT_S = 30;
  const STANDARD_ORDER = ["development", "testing", "staging", "production"];

  const DASHBOARD_QUERY = `
    query Dashboard {
      viewer { subject isAdmin }
      auditLog(first: 1) { edges { cursor } }
      projects(first: 50) {
        totalCount
        nodes {
          name
          description
          myRole
          environments {
            name
            collectionCount
            resourceCount
            collections(first: 100) { id name resourceCount }
          }
        }
      }
    }`;

  const COLLECTION_QUERY = `
    query DashboardCollection($id: ID!) {
      collection(id: $id) {
        id
        name
        environment
        description
        region
        version
        myRole
        project { name }
        tags { key value }
        resources(first: 100) {
          totalCount
          nodes {
            id
            resourceType
            resourceId
            resourceName
            tags { key value }
          }
        }
      }
    }`;

  const FEED_SUBSCRIPTION = `
    subscription DashboardFeed($after: String) {
      collectionEvents(after: $after) {
        cursor
        type
        occurredAt
        actor
        project
        environment
        collectionId
        collectionName
        resource { resourceName resourceId }
      }
    }`;

  const state = {
    token: null,
    client: null,
    stopFeed: null,
    lastCursor: null,
    seenCursors: new Set(),
    openCollectionId: null,
    cellCounts: new Map(),
    collectionCounts: new Map(),
    refreshTimer: null,
    refreshing: null,
    refreshAgain: false,
    collectionDirty: false,
  };

  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(message, code) {
      super(message);
      this.code = code;
    }
  }

  // --- GraphQL over HTTP ------------------------------------------------

  async function graphql(query, variables) {
    let response;
    try {
      response = await fetch(ENDPOINT, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Authorization: "Bearer " + state.token,
        },
        body: JSON.stringify({ query: query, variables: variables || {} }),
      });
    } catch (error) {
      throw new ApiError("The service cannot be reached.", "NETWORK");
    }
    let body;
    try {
      body = await response.json();
    } catch (error) {
      throw new ApiError(`The service answered ${response.status}.`, "BAD_RESPONSE");
    }
    if (body.errors && body.errors.length) {
      const first = body.errors[0];
      const code = (first.extensions && first.extensions.code) || "ERROR";
      throw new ApiError(first.message, code);
    }
    return body.data;
  }

  // --- small DOM helpers ------------------------------------------------

  function element(tag, options, children) {
    const node = document.createElement(tag);
    const settings = options || {};
    if (settings.className) node.className = settings.className;
    if (settings.text !== undefined) node.textContent = String(settings.text);
    for (const [name, value] of Object.entries(settings.attrs || {})) {
      node.setAttribute(name, value);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  function tagChips(tags) {
    return tags.map((tag) => element("span", { className: "tag", text: `${tag.key}=${tag.value}` }));
  }

  function plural(count, word) {
    return `${word}${count === 1 ? "" : "s"}`;
  }

  function showMessage(text) {
    const message = $("message");
    message.textContent = text || "";
    message.hidden = !text;
  }

  function setLive(status) {
    const badge = $("live-status");
    badge.dataset.state = status;
    badge.textContent = status;
  }

  // --- the grid ---------------------------------------------------------

  function environmentColumns(projects) {
    const columns = [];
    for (const project of projects) {
      let previous = null;
      for (const stage of project.environments) {
        if (!columns.includes(stage.name)) {
          const at = previous === null ? firstSlot(columns, stage.name) : columns.indexOf(previous) + 1;
          columns.splice(at, 0, stage.name);
        }
        previous = stage.name;
      }
    }
    return columns;
  }

  function firstSlot(columns, name) {
    // A path's first stage goes before the later standard stages.
    const rank = STANDARD_ORDER.indexOf(name);
    if (rank < 0) return 0;
    const later = columns.findIndex((column) => STANDARD_ORDER.indexOf(column) > rank);
    return later < 0 ? columns.length : later;
  }

  function renderGrid(data) {
    const projects = data.projects.nodes;
    const columns = environmentColumns(projects);
    const changedCells = [];
    const changedCollections = [];
    const grid = $("grid");

    const head = element("tr", {}, [element("th", { text: "Project" })]);
    for (const column of columns) head.append(element("th", { text: column }));
    const body = element("tbody");
    for (const project of projects) {
      body.append(projectRow(project, columns, changedCells, changedCollections));
    }
    grid.replaceChildren(element("thead", {}, [head]), body);

    const total = data.projects.totalCount;
    $("project-total").textContent =
      total > projects.length ? `first ${projects.length} of ${total} projects` : `${total} ${plural(total, "project")}`;
    for (const node of changedCells.concat(changedCollections)) flash(node);
    $("signed-in-as").textContent = data.viewer.subject + (data.viewer.isAdmin ? " (admin)" : "");
    $("signed-in-as").hidden = false;
    showMessage(projects.length ? "" : "No project is visible to you yet: ask an owner for a role, or create a collection.");
  }

  function projectRow(project, columns, changedCells, changedCollections) {
    const heading = element("th", { attrs: { scope: "row" } }, [
      element("span", { className: "project-name", text: project.name }),
      element("span", { className: "project-description", text: project.description }),
    ]);
    if (project.myRole) heading.append(element("span", { className: "role", text: project.myRole.toLowerCase() }));
    const row = element("tr", { attrs: { "data-project": project.name } }, [heading]);
    const stages = new Map(project.environments.map((stage) => [stage.name, stage]));
    for (const column of columns) {
      const stage = stages.get(column);
      if (!stage) {
        row.append(element("td", { className: "off-path", text: "not on path", attrs: { title: "Not on this project's promotion path" } }));
        continue;
      }
      const cell = stageCell(project.name, stage, changedCollections);
      const key = `${project.name}/${stage.name}`;
      const counts = `${stage.collectionCount}/${stage.resourceCount}`;
      if (state.cellCounts.has(key) && state.cellCounts.get(key) !== counts) changedCells.push(cell);
      state.cellCounts.set(key, counts);
      row.append(cell);
    }
    return row;
  }

  function stageCell(projectName, stage, changedCollections) {
    const counts = element("div", { className: "counts" }, [
      element("span", { className: "count collection-count", text: stage.collectionCount }),
      ` ${plural(stage.collectionCount, "collection")} \u00b7 `,
      element("span", { className: "count resource-count", text: stage.resourceCount }),
      ` ${plural(stage.resourceCount, "resource")}`,
    ]);
    const list = element("div", { className: "collections" });
    for (const collection of stage.collections) {
      const button = element("button", {
        text: `${collection.name} (${collection.resourceCount})`,
        attrs: {
          type: "button",
          "data-collection-id": collection.id,
          "aria-pressed": String(collection.id === state.openCollectionId),
        },
      });
      button.addEventListener("click", () => openCollection(collection.id));
      const previous = state.collectionCounts.get(collection.id);
      if (previous !== undefined && previous !== collection.resourceCount) changedCollections.push(button);
      state.collectionCounts.set(collection.id, collection.resourceCount);
      list.append(button);
    }
    return element("td", { attrs: { "data-project": projectName, "data-environment": stage.name } }, [counts, list]);
  }

  function flash(node) {
    node.classList.remove("changed");
    // Reading the layout restarts the animation on a node that had it.
    void node.offsetWidth;
    node.classList.add("changed");
  }

  // --- one collection ---------------------------------------------------

  async function openCollection(id) {
    state.openCollectionId = id;
    for (const button of document.querySelectorAll("[data-collection-id]")) {
      button.setAttribute("aria-pressed", String(button.dataset.collectionId === id));
    }
    try {
      await loadCollection();
    } catch (error) {
      handleError(error);
    }
  }

  function closeCollection() {
    state.openCollectionId = null;
    $("collection").hidden = true;
    for (const button of document.querySelectorAll("[data-collection-id]")) {
      button.setAttribute("aria-pressed", "false");
    }
  }

  async function loadCollection() {
    const id = state.openCollectionId;
    if (!id) return;
    const data = await graphql(COLLECTION_QUERY, { id: id });
    if (id !== state.openCollectionId) return;
    if (!data.collection) {
      closeCollection();
      showMessage("That collection is gone, or you may no longer read it.");
      return;
    }
    renderCollection(data.collection);
  }

  function renderCollection(collection) {
    const panel = $("collection");
    panel.dataset.collectionId = collection.id;
    panel.dataset.version = String(collection.version);
    $("collection-title").textContent = collection.name;
    const meta = [
      `${collection.project.name} / ${collection.environment}`,
      collection.region ? `region ${collection.region}` : "no region",
      `version ${collection.version}`,
      collection.myRole ? `your role: ${collection.myRole.toLowerCase()}` : "",
    ];
    $("collection-meta").textContent = meta.filter(Boolean).join(" \u00b7 ");
    $("collection-description").textContent = collection.description;
    $("collection-tags").replaceChildren(...tagChips(collection.tags));

    const rows = collection.resources.nodes.map((resource) =>
      element("tr", { attrs: { "data-resource-id": resource.resourceId } }, [
        element("td", { text: resource.resourceName || "(unnamed)" }),
        element("td", { text: resource.resourceType }),
        element("td", { className: "id", text: resource.resourceId }),
        element("td", {}, [element("div", { className: "tags" }, tagChips(resource.tags))]),
      ])
    );
    $("resource-rows").replaceChildren(...rows);
    const total = collection.resources.totalCount;
    $("resource-total").textContent =
      total > rows.length ? `Showing the first ${rows.length} of ${total} resources.` : `${total} ${plural(total, "resource")}.`;
    panel.hidden = false;
  }

  // --- refreshing -------------------------------------------------------

  async function loadDashboard() {
    const data = await graphql(DASHBOARD_QUERY);
    // The feed starts after the newest event the grid already reflects, so
    // nothing committed between this read and the subscription is missed.
    const newest = data.auditLog.edges[0];
    if (state.lastCursor === null && newest) state.lastCursor = newest.cursor;
    renderGrid(data);
  }

  function scheduleRefresh(collectionChanged) {
    state.collectionDirty = state.collectionDirty || collectionChanged;
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(refresh, REFRESH_DELAY_MS);
  }

  async function refresh() {
    if (state.refreshing) {
      state.refreshAgain = true;
      return;
    }
    const withCollection = state.collectionDirty;
    state.collectionDirty = false;
    state.refreshing = (async () => {
      await loadDashboard();
      if (withCollection) await loadCollection();
    })();
    try {
      await state.refreshing;
    } catch (error) {
      handleError(error);
    } finally {
      state.refreshing = null;
    }
    if (state.refreshAgain) {
      state.refreshAgain = false;
      refresh();
    }
  }

  // --- the live feed ----------------------------------------------------

  function websocketUrl() {
    const url = new URL(ENDPOINT, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  function startFeed() {
    let connections = 0;
    state.client = graphqlWs.createClient({
      url: websocketUrl(),
      // The service reads the token from the connection_init payload.
      connectionParams: () => ({ Authorization: "Bearer " + state.token }),
      lazy: false,
      keepAlive: 20000,
      retryAttempts: Infinity,
      retryWait: (retries) => wait(Math.min(2 ** retries, MAX_RETRY_WAIT_S) * 1000 + Math.random() * 1000),
      // 4403: the service refused the token; retrying will not change that.
      shouldRetry: (event) => Boolean(event && typeof event.code === "number" && event.code !== 4403),
      onNonLazyError: () => undefined,
      on: {
        connecting: () => setLive(connections ? "reconnecting" : "connecting"),
        connected: () => {
          connections += 1;
          setLive("live");
          // The client subscribes again with its first `after`, so the
          // events missed while the socket was down are replayed; seen ones
          // are skipped.
        },
        closed: (event) => {
          if (event && event.code === 4403) {
            setLive("refused");
            showMessage("The live feed refused your token (expired?). Sign in again.");
          } else if (state.client) {
            setLive("reconnecting");
          }
        },
      },
    });
    subscribe();
  }

  function subscribe() {
    const variables = state.lastCursor ? { after: state.lastCursor } : {};
    state.stopFeed = state.client.subscribe(
      { query: FEED_SUBSCRIPTION, variables: variables },
      {
        next: (message) => {
          if (message.data && message.data.collectionEvents) onEvent(message.data.collectionEvents);
        },
        error: (error) => onFeedError(error),
        complete: () => undefined,
      }
    );
  }

  function wait(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function onEvent(event) {
    if (state.seenCursors.has(event.cursor)) return;
    if (state.seenCursors.size >= MAX_SEEN_CURSORS) state.seenCursors.clear();
    state.seenCursors.add(event.cursor);
    state.lastCursor = event.cursor;
    logEvent(event);
    const affectsOpen = event.collectionId !== null && event.collectionId === state.openCollectionId;
    scheduleRefresh(affectsOpen);
  }

  function onFeedError(error) {
    if (!state.client) return;
    // SUBSCRIPTION_OVERFLOW and the like end the subscription: resume from
    // the last cursor seen, and re-read the page in case events were lost.
    if (Array.isArray(error)) {
      const code = error[0] && error[0].extensions && error[0].extensions.code;
      if (code === "UNAUTHENTICATED") {
        signOut("Your session ended; sign in again.");
        return;
      }
      setTimeout(() => {
        if (state.client) {
          subscribe();
          scheduleRefresh(true);
        }
      }, RESUBSCRIBE_DELAY_MS);
    }
  }

  function logEvent(event) {
    const list = $("events");
    const when = new Date(event.occurredAt).toLocaleTimeString();
    const where = [event.project, event.environment, event.collectionName].filter(Boolean).join(" / ");
    const what = event.resource ? ` ${event.resource.resourceName || event.resource.resourceId}` : "";
    const who = event.actor ? ` by ${event.actor}` : "";
    list.prepend(element("li", { text: `${when} ${event.type}${what} in ${where}${who}` }));
    while (list.children.length > MAX_EVENTS_SHOWN) list.lastElementChild.remove();
    $("activity").hidden = false;
  }

  function stopFeed() {
    const client = state.client;
    state.client = null;
    if (state.stopFeed) state.stopFeed();
    state.stopFeed = null;
    if (client) client.dispose();
    setLive("offline");
  }

  // --- signing in and out -----------------------------------------------

  function handleError(error) {
    if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
      signOut("The service refused the token (expired or signed with another secret).");
      return;
    }
    showMessage(error.message || String(error));
  }

  async function signIn(token) {
    state.token = token;
    showMessage("");
    try {
      await loadDashboard();
    } catch (error) {
      handleError(error);
      $("sign-in").hidden = false;
      return;
    }
    window.sessionStorage.setItem(TOKEN_KEY, token);
    $("sign-in").hidden = true;
    $("overview").hidden = false;
    $("sign-out").hidden = false;
    startFeed();
  }

  function signOut(message) {
    stopFeed();
    state.token = null;
    state.lastCursor = null;
    state.seenCursors.clear();
    state.cellCounts.clear();
    state.collectionCounts.clear();
    window.sessionStorage.removeItem(TOKEN_KEY);
    closeCollection();
    $("overview").hidden = true;
    $("activity").hidden = true;
    $("events").replaceChildren();
    $("sign-out").hidden = true;
    $("signed-in-as").hidden = true;
    $("sign-in").hidden = false;
    showMessage(message || "");
  }

  function cleanToken(text) {
    return text.trim().replace(/^Bearer\s+/i, "");
  }

  function start() {
    $("sign-in-form").addEventListener("submit", (submitted) => {
      submitted.preventDefault();
      const token = cleanToken($("token").value);
      if (token) signIn(token);
    });
    $("sign-out").addEventListener("click", () => signOut(""));
    $("collection-close").addEventListener("click", closeCollection);
    const saved = window.sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      signIn(saved);
    } else {
      $("sign-in").hidden = false;
    }
  }

  start();
})();
