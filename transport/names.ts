/** Naming rules shared by options, the codec and discovery (proto/README.md, section 3). */
export const SERVICE_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
export const NODE_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const MESH_RE = /^[A-Za-z0-9._-]{1,64}$/;
