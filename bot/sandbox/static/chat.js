// The debtor chat page of the nudgebot sandbox: plays one sample debtor through the control API.
// Message text is only ever inserted as text nodes, never parsed as HTML.
"use strict";

(() => {
  const POLL_MS = 700;
  const RETRY_MS = 2000;
  const SAFE_SCHEMES = ["http:", "https:", "mailto:", "tel:", "tg:"];
  const UNSUPPORTED = "This kind of button does not work in the sandbox.";

  const state = {
    bot: null, // getMe-like object of the bot we talk to
    personas: [],
    persona: null,
    chatExists: false, // asking for a transcript that does not exist yet would log 404s
    started: false,
    blocked: false,
    rendered: new Map(), // message_id -> {key, element}
    texts: new Map(), // message_id -> short text, for reply quotes
    answersSeen: new Map(), // message_id -> number of callback answers already shown
    keyboardKey: null,
    firstRender: true,
    timer: null,
    inFlight: false,
    again: false,
    statusText: "",
    toastTimer: null,
  };

  const $ = (id) => document.getElementById(id);
  const el = {};

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status; // 0 when the server could not be reached at all
    }
  }

  async function api(method, path, body) {
    const init = { method, cache: "no-store", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "unreachable");
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch (err) {
      payload = null;
    }
    if (!response.ok || !payload || payload.ok !== true) {
      const message = (payload && payload.error) || response.statusText || "request failed";
      throw new ApiError(response.status, message);
    }
    return payload.result;
  }

  function node(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = text;
    return element;
  }

  function languageTag(code) {
    if (!code) return "en";
    const [base, ...rest] = String(code).split(/[-_]/);
    const parts = rest.map((p) =>
      p.length === 4 ? p[0].toUpperCase() + p.slice(1).toLowerCase() : p.toUpperCase(),
    );
    return [base.toLowerCase(), ...parts].join("-");
  }

  function languageName(code) {
    const tag = languageTag(code);
    try {
      const english = new Intl.DisplayNames(["en"], { type: "language" }).of(tag);
      const native = new Intl.DisplayNames([tag], { type: "language" }).of(tag);
      return english === native ? english : `${english} · ${native}`;
    } catch (err) {
      return tag;
    }
  }

  function initials(name) {
    const words = String(name || "?").trim().split(/\s+/);
    // Latin names give two initials; a Chinese name gives its first character (the surname).
    const first = Array.from(words[0])[0] || "?";
    const last = words.length > 1 ? Array.from(words[words.length - 1])[0] : "";
    return (first + last).toUpperCase();
  }

  // ---- status, toast ---------------------------------------------------------------------

  function showStatus(text) {
    if (text === state.statusText) return;
    state.statusText = text;
    el.chatStatus.textContent = text;
    el.chatStatus.hidden = !text;
  }

  function describeError(err, doing) {
    if (err.status === 0) {
      return (
        "We can't reach the sandbox server right now. " +
        "Is \u201cnudgebot sandbox\u201d still running? We will keep trying."
      );
    }
    return `Sorry, ${doing} did not work: ${err.message}`;
  }

  function toast(text) {
    el.toast.textContent = text;
    el.toast.hidden = false;
    clearTimeout(state.toastTimer);
    state.toastTimer = setTimeout(() => {
      el.toast.hidden = true;
    }, 4000);
  }

  // ---- entities --------------------------------------------------------------------------

  function safeUrl(raw, assumeWeb) {
    let text = String(raw || "").trim();
    if (assumeWeb && !/^[a-z][a-z0-9+.-]*:/i.test(text)) text = `http://${text}`;
    try {
      const url = new URL(text);
      return SAFE_SCHEMES.includes(url.protocol) ? url.href : null;
    } catch (err) {
      return null;
    }
  }

  function link(href) {
    const anchor = node("a");
    if (href) {
      anchor.href = href;
      anchor.target = "_blank";
      anchor.rel = "noopener noreferrer";
    }
    return anchor;
  }

  // Returns [outer element, element that receives the entity's content].
  function entityElement(entity, slice) {
    switch (entity.type) {
      case "bold": return single(node("strong"));
      case "italic": return single(node("em"));
      case "underline": return single(node("u"));
      case "strikethrough": return single(node("s"));
      case "code": return single(node("code", "inline-code"));
      case "pre": {
        const pre = node("pre");
        const code = node("code");
        if (entity.language) code.dataset.language = entity.language;
        pre.append(code);
        return [pre, code];
      }
      case "text_link": return single(link(safeUrl(entity.url, false)));
      case "url": return single(link(safeUrl(slice, true)));
      case "email": return single(link(safeUrl(`mailto:${slice}`, false)));
      case "phone_number":
        return single(link(safeUrl(`tel:${slice.replace(/[^\d+]/g, "")}`, false)));
      case "blockquote":
      case "expandable_blockquote": return single(node("blockquote"));
      case "spoiler": {
        const span = node("span", "spoiler");
        span.tabIndex = 0;
        span.setAttribute("role", "button");
        span.setAttribute("aria-label", "Hidden text, press to reveal");
        const reveal = () => {
          span.classList.add("revealed");
          span.removeAttribute("role");
          span.removeAttribute("aria-label");
          span.removeAttribute("tabindex");
        };
        span.addEventListener("click", reveal);
        span.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            reveal();
          }
        });
        return single(span);
      }
      default:
        return single(node("span", `entity-${String(entity.type).replace(/[^a-z_]/g, "")}`));
    }
  }

  function single(element) {
    return [element, element];
  }

  // Telegram entities nest but never cross; offsets are UTF-16 units, as JavaScript strings are.
  function renderEntities(parent, text, entities) {
    const valid = (entities || [])
      .filter((e) => Number.isInteger(e.offset) && Number.isInteger(e.length) && e.length > 0)
      .sort((a, b) => a.offset - b.offset || b.length - a.length);
    build(parent, text, 0, text.length, valid);
  }

  function build(parent, text, start, end, entities) {
    let position = start;
    let i = 0;
    while (i < entities.length) {
      const entity = entities[i];
      const from = Math.max(entity.offset, position);
      const to = Math.min(entity.offset + entity.length, end);
      let j = i + 1;
      while (j < entities.length && entities[j].offset < to) j += 1;
      if (from < to) {
        if (from > position) parent.append(text.slice(position, from));
        const [outer, inner] = entityElement(entity, text.slice(from, to));
        build(inner, text, from, to, entities.slice(i + 1, j));
        parent.append(outer);
        position = to;
      }
      i = j;
    }
    if (position < end) parent.append(text.slice(position, end));
  }

  // ---- messages --------------------------------------------------------------------------

  function messageKey(m) {
    const { text, entities, reply_markup: markup, contact, edit_date: edited } = m;
    return JSON.stringify([text, entities, markup, contact, edited, m.reply_to_message_id]);
  }

  function timeOf(seconds) {
    const date = new Date(seconds * 1000);
    return {
      short: date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
      full: date.toLocaleString(),
    };
  }

  function renderMessage(m) {
    const mine = m.from === "user";
    const row = node("div", `row ${mine ? "row-out" : "row-in"}`);
    row.dataset.messageId = String(m.message_id);
    const bubble = node("div", `bubble ${mine ? "bubble-out" : "bubble-in"}`);
    const who = node("span", "visually-hidden", mine ? "You:" : `${botName()}:`);
    bubble.append(who);

    if (m.reply_to_message_id && state.texts.has(m.reply_to_message_id)) {
      bubble.append(node("div", "quote", state.texts.get(m.reply_to_message_id)));
    }
    if (m.contact) {
      bubble.append(renderContact(m.contact));
    }
    if (m.text) {
      const body = node("div", "text");
      renderEntities(body, m.text, m.entities);
      bubble.append(body);
    }
    const meta = node("span", "meta");
    const when = timeOf(m.date);
    if (m.edit_date) meta.append(node("span", "edited", "edited"));
    const time = node("time", null, when.short);
    time.dateTime = new Date(m.date * 1000).toISOString();
    time.title = when.full;
    meta.append(time);
    const spacer = node("span", "meta-spacer");
    spacer.dataset.meta = meta.textContent;
    spacer.setAttribute("aria-hidden", "true");
    bubble.append(spacer, meta);
    row.append(bubble);

    const rows = (m.reply_markup && m.reply_markup.inline_keyboard) || [];
    if (!mine && rows.length) row.append(renderInlineKeyboard(m, rows));
    return row;
  }

  function renderContact(contact) {
    const card = node("div", "contact");
    card.append(node("span", "contact-icon", initials(contact.first_name)));
    const details = node("div", "contact-details");
    const name = [contact.first_name, contact.last_name].filter(Boolean).join(" ");
    const heading = node("span", "contact-name");
    heading.append(node("span", "visually-hidden", "Shared contact: "), name || "Contact");
    const phone = String(contact.phone_number || "");
    const shown = phone.startsWith("+") ? phone : `+${phone}`;
    details.append(heading, node("span", "contact-phone", shown));
    card.append(details);
    return card;
  }

  function renderInlineKeyboard(message, rows) {
    const keyboard = node("div", "inline-keyboard");
    keyboard.setAttribute("role", "group");
    keyboard.setAttribute("aria-label", "Message buttons");
    for (const buttons of rows) {
      const line = node("div", "inline-row");
      for (const button of buttons) line.append(inlineButton(message, button));
      keyboard.append(line);
    }
    return keyboard;
  }

  function inlineButton(message, button) {
    const label = String(button.text || "");
    if (button.url) {
      const href = safeUrl(button.url, false);
      if (href) {
        const anchor = link(href);
        anchor.className = "inline-button inline-link";
        anchor.append(label, node("span", "external", "↗"));
        anchor.lastChild.setAttribute("aria-hidden", "true");
        anchor.title = href;
        return anchor;
      }
    }
    const element = node("button", "inline-button", label);
    element.type = "button";
    if (button.callback_data !== undefined) {
      element.addEventListener("click", () =>
        pressInline(element, message.message_id, button.callback_data),
      );
    } else {
      element.setAttribute("aria-disabled", "true");
      element.addEventListener("click", () => toast(UNSUPPORTED));
    }
    return element;
  }

  async function pressInline(element, messageId, data) {
    if (element.getAttribute("aria-busy") === "true") return;
    element.setAttribute("aria-busy", "true");
    try {
      const body = { message_id: messageId, data, user: state.persona.user };
      await api("POST", `${chatPath()}/callback`, body);
      refresh();
    } catch (err) {
      showStatus(describeError(err, "pressing that button"));
    } finally {
      element.removeAttribute("aria-busy");
    }
  }

  function botName() {
    return (state.bot && state.bot.first_name) || "Bot";
  }

  function nearBottom() {
    const box = el.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  }

  function renderTranscript(transcript) {
    const stick = state.firstRender || nearBottom();
    const visible = new Set();
    let previous = null;
    for (const m of transcript.messages) {
      if (m.text) state.texts.set(m.message_id, m.text.slice(0, 120));
      else if (m.contact) state.texts.set(m.message_id, "Contact");
      if (m.deleted) continue;
      visible.add(m.message_id);
      const key = messageKey(m);
      const known = state.rendered.get(m.message_id);
      let element = known && known.element;
      if (!known || known.key !== key) {
        const fresh = renderMessage(m);
        if (element) element.replaceWith(fresh);
        else if (previous) previous.after(fresh);
        else el.messages.prepend(fresh);
        element = fresh;
        state.rendered.set(m.message_id, { key, element });
      }
      previous = element;
      announceAnswers(m);
    }
    for (const [id, entry] of state.rendered) {
      if (!visible.has(id)) {
        entry.element.remove();
        state.rendered.delete(id);
      }
    }
    el.empty.hidden = visible.size > 0;
    renderReplyKeyboard(transcript.started ? transcript.reply_keyboard : null);
    setStarted(Boolean(transcript.started) && !transcript.blocked, Boolean(transcript.blocked));
    if (stick) el.messages.scrollTop = el.messages.scrollHeight;
    state.firstRender = false;
  }

  function announceAnswers(m) {
    const answers = m.callback_answers || [];
    const seen = state.answersSeen.get(m.message_id) || 0;
    if (answers.length > seen && !state.firstRender) {
      const latest = answers[answers.length - 1];
      if (latest && latest.text) toast(latest.text);
    }
    state.answersSeen.set(m.message_id, answers.length);
  }

  function renderReplyKeyboard(markup) {
    const key = JSON.stringify(markup || null);
    if (key === state.keyboardKey) return;
    state.keyboardKey = key;
    const box = el.replyKeyboard;
    const active = document.activeElement;
    const focused = box.contains(active) ? active.textContent : null;
    box.replaceChildren();
    const rows = (markup && markup.keyboard) || [];
    for (const buttons of rows) {
      const line = node("div", "reply-row");
      for (const raw of buttons) {
        const button = typeof raw === "string" ? { text: raw } : raw;
        const element = node("button", "reply-button");
        element.type = "button";
        if (button.request_contact) {
          const icon = node("span", "reply-icon", "☎");
          icon.setAttribute("aria-hidden", "true");
          element.append(icon);
        }
        element.append(String(button.text || ""));
        element.addEventListener("click", () => pressReply(element, button));
        line.append(element);
        if (focused !== null && element.textContent === focused) {
          queueMicrotask(() => element.focus());
        }
      }
      box.append(line);
    }
    box.hidden = rows.length === 0;
    const placeholder = markup && markup.input_field_placeholder;
    el.input.placeholder = placeholder || "Message";
  }

  async function pressReply(element, button) {
    // aria-busy rather than disabled: a disabled button would drop the keyboard focus.
    if (element.getAttribute("aria-busy") === "true") return;
    element.setAttribute("aria-busy", "true");
    try {
      if (button.request_contact) {
        await shareContact(state.persona.phone, false);
      } else if (button.request_location || button.request_poll || button.request_users ||
                 button.request_chat || button.web_app) {
        toast(UNSUPPORTED);
      } else {
        await sendText(String(button.text || ""));
      }
    } finally {
      element.removeAttribute("aria-busy");
    }
  }

  // ---- actions ---------------------------------------------------------------------------

  function chatPath() {
    const bot = encodeURIComponent(state.bot.username);
    return `/sandbox/bots/${bot}/chats/${encodeURIComponent(state.persona.user.id)}`;
  }

  async function sendText(text) {
    if (!text.trim()) return false;
    try {
      await api("POST", `${chatPath()}/messages`, { text, user: state.persona.user });
      showStatus("");
      refresh();
      return true;
    } catch (err) {
      showStatus(describeError(err, "sending your message"));
      return false;
    }
  }

  async function shareContact(phone, foreign) {
    const body = { phone_number: phone, user: state.persona.user };
    if (foreign) {
      body.contact_user_id = null;
      body.first_name = "Someone";
      body.last_name = "Else";
    }
    try {
      await api("POST", `${chatPath()}/contact`, body);
      showStatus("");
      refresh();
      return true;
    } catch (err) {
      showStatus(describeError(err, "sharing the contact"));
      return false;
    }
  }

  async function openLink() {
    if (state.blocked) {
      try {
        await api("POST", `${chatPath()}/unblock`, { user: state.persona.user });
      } catch (err) {
        showStatus(describeError(err, "restarting the bot"));
        return false;
      }
    }
    const token = state.persona.start;
    return sendText(token ? `/start ${token}` : "/start");
  }

  // ---- polling ---------------------------------------------------------------------------

  function schedule(delay) {
    clearTimeout(state.timer);
    state.timer = null;
    if (!state.persona || document.hidden) return;
    state.timer = setTimeout(poll, delay);
  }

  function refresh() {
    schedule(0);
  }

  async function fetchTranscript(persona) {
    if (!state.chatExists) {
      const bot = encodeURIComponent(state.bot.username);
      const chats = await api("GET", `/sandbox/bots/${bot}/chats`);
      if (persona !== state.persona) return null;
      state.chatExists = chats.some((c) => c.chat && c.chat.id === persona.user.id);
      if (!state.chatExists) return null;
    }
    return api("GET", chatPath());
  }

  async function poll() {
    state.timer = null;
    if (state.inFlight) {
      state.again = true;
      return;
    }
    const persona = state.persona;
    if (!persona || document.hidden) return;
    state.inFlight = true;
    let delay = POLL_MS;
    try {
      const transcript = await fetchTranscript(persona);
      if (persona === state.persona) {
        showStatus("");
        renderTranscript(transcript || { messages: [], started: false, reply_keyboard: null });
      }
    } catch (err) {
      if (persona !== state.persona) {
        // The user switched persona meanwhile; this answer is stale.
      } else if (err.status === 404) {
        state.chatExists = false;
      } else {
        showStatus(describeError(err, "loading the chat"));
        delay = RETRY_MS;
      }
    } finally {
      state.inFlight = false;
      const next = state.again ? 0 : delay;
      state.again = false;
      // After a switch the new persona's first poll may have been deferred to this one.
      schedule(persona === state.persona ? next : 0);
    }
  }

  // ---- views -----------------------------------------------------------------------------

  function setStarted(started, blocked) {
    const changed = started !== state.started || blocked !== state.blocked || state.firstRender;
    state.started = started;
    state.blocked = blocked;
    el.startPanel.hidden = started;
    el.composer.hidden = !started;
    if (!changed) return;
    const name = state.persona.user.first_name || state.persona.name;
    el.startHint.textContent = blocked
      ? "You have stopped and blocked this bot. Restart it to talk again."
      : `${name}, the creditor sent you a personal link to this chat. ` +
        "Open it to start talking to the bot.";
    el.startButton.textContent = blocked ? "Restart the bot" : "Open my link";
    // Moving focus on touch devices would pop up the on-screen keyboard uninvited.
    const quiet = el.phoneDialog.open || !el.menu.hidden;
    if (!quiet && (!started || window.matchMedia("(pointer: fine)").matches)) {
      (started ? el.input : el.startButton).focus({ preventScroll: true });
    }
  }

  function choosePersona(persona) {
    state.persona = persona;
    state.chatExists = false;
    state.started = false;
    state.blocked = false;
    state.rendered.clear();
    state.texts.clear();
    state.answersSeen.clear();
    state.keyboardKey = null;
    state.firstRender = true;
    el.messages.replaceChildren(el.empty);
    el.empty.hidden = false;
    el.messages.lang = languageTag(persona.user.language_code);
    el.input.lang = el.messages.lang;
    el.replyKeyboard.lang = el.messages.lang;
    el.replyKeyboard.hidden = true;
    el.composer.hidden = true;
    el.startPanel.hidden = false;
    el.chatSubtitle.textContent = `bot · you are ${persona.name}`;
    el.picker.hidden = true;
    el.chat.hidden = false;
    document.title = `${persona.name} — nudgebot sandbox`;
    history.replaceState(null, "", `#${encodeURIComponent(persona.debtor_ref)}`);
    showStatus("");
    refresh();
  }

  function showPicker() {
    const previous = state.persona;
    state.persona = null;
    clearTimeout(state.timer);
    closeMenu(false);
    el.chat.hidden = true;
    el.picker.hidden = false;
    document.title = "nudgebot sandbox — debtor chat";
    history.replaceState(null, "", location.pathname + location.search);
    const selector = previous && `[data-ref="${CSS.escape(previous.debtor_ref)}"]`;
    const card = selector && el.personaList.querySelector(selector);
    (card || el.personaList.querySelector("button") || el.picker).focus();
  }

  function renderPersonas() {
    el.personaList.replaceChildren();
    for (const persona of state.personas) {
      const item = node("li");
      const card = node("button", "persona-card");
      card.type = "button";
      card.dataset.ref = persona.debtor_ref;
      card.lang = languageTag(persona.user && persona.user.language_code);
      const avatar = node("span", "avatar persona-avatar", initials(persona.name));
      avatar.setAttribute("aria-hidden", "true");
      const text = node("span", "persona-text");
      text.append(node("span", "persona-name", persona.name));
      const code = persona.user && persona.user.language_code;
      const language = node("span", "persona-line", languageName(code));
      language.lang = "en";
      text.append(language);
      const phone = node("span", "persona-line persona-phone", persona.phone || "no phone");
      phone.lang = "en";
      text.append(phone);
      const go = node("span", "persona-go");
      go.append(node("span", "persona-go-label", "Chat as this debtor"), node("span", null, "›"));
      go.lang = "en";
      go.setAttribute("aria-hidden", "true");
      card.append(avatar, text, go);
      card.addEventListener("click", () => choosePersona(persona));
      item.append(card);
      el.personaList.append(item);
    }
  }

  function setPickerStatus(text) {
    el.pickerStatus.textContent = text;
    el.pickerStatus.hidden = !text;
  }

  async function load() {
    try {
      const [bots, personas] = await Promise.all([
        api("GET", "/sandbox/bots"),
        api("GET", "/sandbox/personas"),
      ]);
      const wanted = new URLSearchParams(location.search).get("bot");
      state.bot = bots.find((b) => b.username === wanted) || bots[0] || null;
      state.personas = personas;
    } catch (err) {
      setPickerStatus(describeError(err, "loading the sample debtors"));
      setTimeout(load, RETRY_MS);
      return;
    }
    if (!state.bot) {
      setPickerStatus("No bot is registered with this sandbox server yet.");
      return;
    }
    el.chatTitle.textContent = botName();
    el.botAvatar.textContent = initials(botName());
    if (!state.personas.length) {
      setPickerStatus(
        "No sample debtors are loaded. Start the sandbox with \u201cnudgebot sandbox\u201d.",
      );
      return;
    }
    setPickerStatus("");
    renderPersonas();
    followHash();
    window.addEventListener("hashchange", followHash);
  }

  // The address names the persona (#D-001), so a reload or a shared link opens the same chat.
  function followHash() {
    const ref = decodeURIComponent(location.hash.slice(1));
    const chosen = state.personas.find((p) => p.debtor_ref === ref);
    if (chosen && chosen !== state.persona) choosePersona(chosen);
    else if (!chosen && state.persona) showPicker();
  }

  // ---- menu and dialog -------------------------------------------------------------------

  function openMenu() {
    el.menu.hidden = false;
    el.menuButton.setAttribute("aria-expanded", "true");
    el.menu.querySelector("button").focus();
  }

  function closeMenu(returnFocus) {
    if (el.menu.hidden) return;
    el.menu.hidden = true;
    el.menuButton.setAttribute("aria-expanded", "false");
    if (returnFocus) el.menuButton.focus();
  }

  function wire() {
    el.menuButton.addEventListener("click", () => (el.menu.hidden ? openMenu() : closeMenu(true)));
    el.menu.addEventListener("keydown", (event) => {
      const items = Array.from(el.menu.querySelectorAll("button"));
      const index = items.indexOf(document.activeElement);
      if (event.key === "Escape") {
        event.preventDefault();
        closeMenu(true);
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        items[(index + step + items.length) % items.length].focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (!el.menu.hidden && !event.target.closest(".menu-wrap")) closeMenu(false);
    });
    el.menu.addEventListener("focusout", (event) => {
      if (event.relatedTarget && !event.relatedTarget.closest(".menu-wrap")) closeMenu(false);
    });

    $("menu-other-phone").addEventListener("click", () => {
      closeMenu(false);
      el.phoneForm.reset();
      el.phoneDialog.showModal();
    });
    $("menu-restart").addEventListener("click", () => {
      closeMenu(true);
      openLink();
    });
    $("menu-switch").addEventListener("click", showPicker);
    $("back").addEventListener("click", showPicker);

    $("phone-cancel").addEventListener("click", () => el.phoneDialog.close());
    // The menu item that opened the dialog is hidden by now, so focus would fall to the body.
    el.phoneDialog.addEventListener("close", () => el.menuButton.focus());
    el.phoneForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const phone = el.phoneInput.value.trim();
      if (!phone) {
        el.phoneInput.focus();
        return;
      }
      el.phoneDialog.close();
      await shareContact(phone, el.phoneForeign.checked);
    });

    el.startButton.addEventListener("click", async () => {
      el.startButton.disabled = true;
      try {
        await openLink();
      } finally {
        el.startButton.disabled = false;
      }
    });

    el.composer.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = el.input.value;
      if (!text.trim()) return;
      el.input.value = "";
      autosize();
      if (!(await sendText(text))) {
        el.input.value = text;
        autosize();
      }
    });
    el.input.addEventListener("keydown", (event) => {
      // Enter confirms an IME candidate while composing Chinese; it must not send then.
      const composing = event.isComposing || event.keyCode === 229;
      if (event.key !== "Enter" || event.shiftKey || composing) return;
      event.preventDefault();
      el.composer.requestSubmit();
    });
    el.input.addEventListener("input", autosize);

    document.addEventListener("visibilitychange", () => {
      if (document.hidden) {
        clearTimeout(state.timer);
        state.timer = null;
      } else {
        refresh();
      }
    });
  }

  function autosize() {
    el.input.style.height = "auto";
    el.input.style.height = `${Math.min(el.input.scrollHeight, 160)}px`;
  }

  function init() {
    Object.assign(el, {
      picker: $("picker"),
      pickerStatus: $("picker-status"),
      personaList: $("persona-list"),
      chat: $("chat"),
      chatTitle: $("chat-title"),
      chatSubtitle: $("chat-subtitle"),
      botAvatar: $("bot-avatar"),
      chatStatus: $("chat-status"),
      messages: $("messages"),
      toast: $("toast"),
      startPanel: $("start-panel"),
      startHint: $("start-hint"),
      startButton: $("start-button"),
      replyKeyboard: $("reply-keyboard"),
      composer: $("composer"),
      input: $("composer-input"),
      menuButton: $("menu-button"),
      menu: $("menu"),
      phoneDialog: $("phone-dialog"),
      phoneForm: $("phone-form"),
      phoneInput: $("phone-input"),
      phoneForeign: $("phone-foreign"),
    });
    el.empty = node("p", "empty", "No messages here yet.");
    el.messages.append(el.empty);
    wire();
    load();
  }

  init();
})();
