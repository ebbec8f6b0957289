/** A tiny element builder: no innerHTML anywhere (text goes in as text nodes), so no markup injection. */
type Child = Node | string | null | undefined | false;

export interface Props {
  class?: string;
  testid?: string;
  id?: string;
  type?: string;
  placeholder?: string;
  value?: string;
  title?: string;
  for?: string;
  disabled?: boolean;
  autocomplete?: string;
  ariaLabel?: string;
  data?: Record<string, string>;
  on?: Partial<{ [K in keyof HTMLElementEventMap]: (ev: HTMLElementEventMap[K]) => void }>;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.testid) el.dataset.testid = props.testid;
  if (props.id) el.id = props.id;
  if (props.type) el.setAttribute('type', props.type);
  if (props.placeholder) el.setAttribute('placeholder', props.placeholder);
  if (props.title) el.title = props.title;
  if (props.for) el.setAttribute('for', props.for);
  if (props.autocomplete) el.setAttribute('autocomplete', props.autocomplete);
  if (props.ariaLabel) el.setAttribute('aria-label', props.ariaLabel);
  if (props.value !== undefined) (el as HTMLInputElement).value = props.value;
  if (props.disabled) (el as HTMLButtonElement).disabled = true;
  for (const [k, v] of Object.entries(props.data ?? {})) el.dataset[k] = v;
  for (const [name, fn] of Object.entries(props.on ?? {})) el.addEventListener(name, fn as EventListener);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
