import { signOut } from '../../auth';
import type { Actions } from './$types';

// Ends the Auth.js session (deletes the cookie). It does not log out of Keycloak and revokes nothing
// there: see docs/authjs.md ("Sign-out and revocation").
export const actions: Actions = { default: signOut };
