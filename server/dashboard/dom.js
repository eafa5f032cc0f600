// Building DOM nodes without innerHTML: every piece of data becomes a text node, so nothing a
// record holds can turn into markup.

/**
 * h('a', {href: '#/x', class: 'y', dataset: {id: 1}, on: {click: f}}, 'text', child, [more])
 * Attributes set to null, undefined or false are left out; true sets an empty attribute.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value == null || value === false) continue;
      if (name === 'dataset') Object.assign(el.dataset, value);
      else if (name === 'on') {
        for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
      } else if (name === 'value' || name === 'checked' || name === 'selected') el[name] = value;
      else el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends strings, numbers and nodes (nested arrays flattened; null and false skipped). */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces an element's content. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** An SVG element (sparklines). */
export function svg(tag, attrs) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, String(value));
  return el;
}

let clearing = null;

/** Announces a message in the page's polite live region, which shows it for a while. */
export function announce(message, kind = 'info') {
  const region = document.getElementById('status');
  region.dataset.kind = kind;
  // Emptied first so that the same message twice is read out twice.
  region.textContent = '';
  clearTimeout(clearing);
  requestAnimationFrame(() => {
    region.textContent = message;
    clearing = setTimeout(() => { region.textContent = ''; }, 10000);
  });
}
