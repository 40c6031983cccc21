import type { ServerInit } from '@sveltejs/kit';
import { exampleConfig } from '$lib/server/config';

export { handle } from './auth';

export const init: ServerInit = () => {
  const config = exampleConfig(); // fails at start, not at the first sign-in, when a variable is missing
  if (config.devRoutes) {
    console.warn('!!! AUTHJWT_EXAMPLE_DEV_ROUTES=true: /dev/* routes hand minted tokens to the browser. Development and tests only.');
  }
};
