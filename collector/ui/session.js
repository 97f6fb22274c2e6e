// Who is logged in and what they may do. The collector decides; this only hides controls
// that would be refused anyway.

import { api, ApiError } from './api.js';

const RANK = { viewer: 1, technician: 2, admin: 3 };

export class Session {
  constructor(me) { this.me = me; }

  /** The current session, or null when not logged in. */
  static async load() {
    try {
      return new Session(await api('GET', '/api/v1/me'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return null;
      throw e;
    }
  }

  /** Has the user at least `need` on `entityId` (a group-wide role counts everywhere)?
   *  Without an entity id, any entity will do. */
  can(need, entityId) {
    return (this.me.roles || []).some((r) =>
      (RANK[r.role] || 0) >= RANK[need] &&
      (r.entity_id === null || r.entity_id === undefined || entityId === undefined ||
        entityId === null || r.entity_id === entityId));
  }
}
