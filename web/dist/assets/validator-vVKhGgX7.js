import{c1 as i}from"./index-CoNurw35.js";const n=o=>["",...i].includes(o);export{n as i};
